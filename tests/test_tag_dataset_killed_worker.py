"""layer-fusion tag-dataset with 2 workers, one killed at its first batch: it is restarted and
its batch retried, and the output equals single-process tagging, no record lost or repeated.

The run's driver is a process of its own, with a Ray instance of its own, the only one
running (a module of its own: test_tag_dataset.py's instance is shut down by then). Twice a
CI run ended during this test with exit 1 and no test summary, the pytest process gone, and
no Ray logs were kept. A likely cause, not confirmed: Ray's local node died under the driver
(a raylet exits when its dashboard agent fails, and a driver whose raylet is gone exits 1 at
once, in Ray's C++ code). A driver that dies is reported (its stderr and Ray's log tails, as
a warning) and the run is made once more from nothing, a worker killed again: a driver that
died whenever a worker is killed still fails, on the second run."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings

import pytest
from jsonl_shards import read_outputs, write_shards
from pipelines import build_pipeline

from layer_fusion.distributed import single_process_records

pytestmark = pytest.mark.slow

# The driver writes its pid into the crash-once marker (the driver is never killed itself),
# tags, and writes what tag_dataset returned to a file (Ray's own lines reach its stdout too).
DRIVER = """
import json, os, sys
import ray
from layer_fusion.distributed import tag_dataset
pipeline, pattern, out, marker, result, temp_dir = sys.argv[1:]
with open(marker, "w", encoding="utf-8") as f:
    f.write(str(os.getpid()))
ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
written = tag_dataset(pipeline, pattern, out, workers=2, batch_size=8, progress=False, crash_once_marker=marker)
with open(result, "w", encoding="utf-8") as f:
    json.dump(written, f)
"""
TIMEOUT_SECONDS = 600  # a failsafe: the run takes under a minute on 2 cores


@pytest.fixture(scope="module")
def pipeline(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("ray") / "pipeline", tiny_xlmr, "AIF")


def _ray_logs_tail(temp_dir: str, lines: int = 15) -> str:
    """The last lines of the raylet's and the driver's logs of a Ray instance's session."""
    tails = []
    for pattern in ("raylet.out", "python-core-driver-*.log"):
        for path in glob.glob(os.path.join(temp_dir, "session_latest", "logs", pattern)):
            with open(path, encoding="utf-8", errors="replace") as f:
                tails.append(f"--- {os.path.basename(path)}\n" + "".join(f.readlines()[-lines:]))
    return "\n".join(tails)


def _run_driver(args, temp_dir: str):
    """(exit code, stderr) of the driver; one past the failsafe is killed with its process group
    (the raylet and GCS it started; Ray's workers, in groups of their own, end with their
    raylet), and its exit code is None."""
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, *args, temp_dir], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=TIMEOUT_SECONDS)
        return proc.returncode, stderr
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        return None, stderr
    finally:
        try:  # what the driver started and left in its group (a driver that died can leave its raylet)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_worker_is_retried_without_loss_or_duplicates(pipeline, tmp_path):
    pattern = write_shards(tmp_path / "in", [200, 120])
    marker, out, result = tmp_path / "crash-once", tmp_path / "out", tmp_path / "written.json"
    for attempt in (1, 2):
        temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit 107 bytes
        try:
            code, stderr = _run_driver([str(pipeline), pattern, str(out), str(marker), str(result)], temp_dir)
            logs = _ray_logs_tail(temp_dir)
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)
        if code == 0:
            break
        ended = f"killed after {TIMEOUT_SECONDS} s" if code is None else f"exit {code}"
        report = f"driver {ended}; stderr:\n{stderr[-3000:]}\n{logs}"
        assert attempt == 1 and code is not None, f"the driver failed, the second time or for good: {report}"
        warnings.warn(f"the driver of the killed-worker run died; run again from nothing: {report}")
        shutil.rmtree(out, ignore_errors=True)
    assert json.loads(result.read_text(encoding="utf-8")) == {"part-000.jsonl": 200, "part-001.jsonl": 120}
    assert not marker.exists()  # a worker really died
    assert read_outputs(out) == single_process_records(str(pipeline), pattern, batch_size=8)
