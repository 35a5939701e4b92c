"""layer-fusion tag-dataset on a local Ray instance with 2 workers: the output equals
single-process tagging record for record, output shards are written atomically, and a rerun
skips them. A worker killed mid-run: test_tag_dataset_killed_worker.py."""
import json
import re

import pytest
import ray  # the [ray] extra, which make setup installs
from jsonl_shards import random_texts, read_outputs, write_shards
from pipelines import build_pipeline

from layer_fusion.distributed import single_process_records, tag_dataset

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def ray_local():
    # 2 workers of one thread, and a CPU for the read tasks (as tag_dataset starts Ray itself)
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pipeline(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("ray") / "pipeline", tiny_xlmr, "AIF")


def test_output_equals_single_process_tagging(ray_local, pipeline, tmp_path, recwarn):
    pattern = write_shards(tmp_path / "in", [150, 0, 90])
    written = tag_dataset(str(pipeline), pattern, tmp_path / "out", workers=2, batch_size=8, progress=False)
    # Ray's deprecation of the retry settings' keyword arguments is not passed on to users.
    assert not [w for w in recwarn if "ray_remote_args" in str(w.message)]
    expected = single_process_records(str(pipeline), pattern, batch_size=8)
    assert written == {"part-000.jsonl": 150, "part-001.jsonl": 0, "part-002.jsonl": 90}
    assert read_outputs(tmp_path / "out") == expected
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files
    # a rerun skips finished shards and rewrites nothing
    stamp = (tmp_path / "out" / "part-000.jsonl").stat().st_mtime_ns
    assert tag_dataset(str(pipeline), pattern, tmp_path / "out", workers=2, progress=False) == {}
    assert (tmp_path / "out" / "part-000.jsonl").stat().st_mtime_ns == stamp


def test_quiet_prints_no_ray_data_info_lines(ray_local, pipeline, tmp_path):
    """Without progress (``tag-dataset -q``) Ray Data's INFO lines (the plan it executes, its
    progress) stay off the console; after a quiet run, a run with progress prints them again."""
    import io
    import logging

    import ray.data  # noqa: F401 (configures the "ray.data" logger and its console handler)

    # The console handler keeps the stderr of the moment it was made (pytest swaps it per
    # test), so the test reads what it writes from a stream of its own.
    console = [h for h in logging.getLogger("ray.data").handlers if h.name == "console"]
    assert console
    pattern = write_shards(tmp_path / "in", [20])
    printed = {}
    for mode in ("quiet", "loud"):
        stream = io.StringIO()
        before = [h.setStream(stream) for h in console]
        try:
            tag_dataset(str(pipeline), pattern, tmp_path / mode, workers=2, batch_size=8, progress=mode == "loud")
        finally:
            for h, old in zip(console, before):
                h.setStream(old)
        printed[mode] = stream.getvalue()
    info = re.compile(r"\sINFO\s")
    assert info.search(printed["loud"])  # what -q is there to hide
    assert not info.search(printed["quiet"]), printed["quiet"]
    assert "Progress bars disabled" not in printed["quiet"]  # -q asked for that


def test_parquet_shards(ray_local, pipeline, tmp_path):
    import pandas as pd

    (tmp_path / "in").mkdir()
    for i in range(2):
        pd.DataFrame({"text": random_texts(40, 10 + i)}).to_parquet(tmp_path / "in" / f"p{i}.parquet")
    pattern = str(tmp_path / "in" / "*.parquet")
    tag_dataset(str(pipeline), pattern, tmp_path / "out", workers=2, batch_size=8, progress=False)
    assert read_outputs(tmp_path / "out") == single_process_records(str(pipeline), pattern, batch_size=8)


def test_bad_input_is_a_clear_error_and_leaves_nothing(ray_local, pipeline, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"body": "no text field"}\n')
    with pytest.raises(ValueError, match='a.jsonl: line 1: no "text" field'):
        tag_dataset(str(pipeline), str(tmp_path / "in" / "*.jsonl"), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(ValueError, match="no input shard matches"):
        tag_dataset(str(pipeline), str(tmp_path / "nothing" / "*.jsonl"), tmp_path / "out", progress=False)


@pytest.mark.parametrize("lines,error", [
    ('{"text": "the cat sat"}\n{"id": 2}\n', 'line 2: no "text" field'),
    ('{"text": "the cat sat"}\n\n{"text": 5}\n', 'line 3: "text" is 5, not a string'),
    ('{"text": "the cat sat"}\n{"text": "a dog\n', "line 2: not JSON: Unterminated string starting at column 10"),
    # Cut short at its end: the fault is there, not at column 1 of a next line.
    ('{"text": "the cat sat"}\n{"text": "Bad one"\n', "line 2: not JSON: Expecting ',' delimiter at column 19"),
    ('{"text": "the cat sat"}\r\n{"text": "Bad one"\r\n', "line 2: not JSON: Expecting ',' delimiter at column 19"),
    ('["the cat sat"]\n', "line 1: not a JSON object"),
    ('{"text": "a"}\n{"text": "caf\udce9"}\n', "line 2: not UTF-8 (byte 0xe9 at column 14)"),
])
def test_a_bad_jsonl_record_is_one_line_naming_shard_and_line_before_ray(pipeline, tmp_path, monkeypatch, lines, error):
    """A record without "text", or with a number, was tagged as "nan" or "5" (exit 0); a line
    that is not JSON gave Ray's tracebacks and an error naming neither shard nor line."""
    from typer.testing import CliRunner

    from layer_fusion import distributed
    from layer_fusion.cli import app

    def no_ray():
        raise AssertionError("Ray was started")

    monkeypatch.setattr(distributed, "_require_ray", lambda: type("Ray", (), {"is_initialized": staticmethod(no_ray)}))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "fine"}\n', encoding="utf-8")
    shard = tmp_path / "in" / "b.jsonl"
    shard.write_bytes(lines.encode("utf-8", errors="surrogateescape"))  # \udce9: the raw byte 0xe9
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "in" / "*.jsonl"),
                                      str(tmp_path / "out"), "--workers", "1", "--fp32", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"✘ {shard}: {error}"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.jsonl"))


@pytest.mark.parametrize("write,error", [
    (lambda pa, pq, path: pq.write_table(pa.table({"body": ["the cat sat"]}), path), 'no "text" column (its columns: body)'),
    (lambda pa, pq, path: path.write_text("not parquet"), "not a Parquet file"),
])
def test_a_parquet_shard_without_text_is_named_before_ray(pipeline, tmp_path, monkeypatch, write, error):
    """A shard without a "text" column was reported by the glob, not the shard, after Ray's
    start-up."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from layer_fusion import distributed
    from layer_fusion.cli import app

    def no_ray():
        raise AssertionError("Ray was started")

    monkeypatch.setattr(distributed, "_require_ray", lambda: type("Ray", (), {"is_initialized": staticmethod(no_ray)}))
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"text": ["fine"]}), tmp_path / "in" / "a.parquet")
    shard = tmp_path / "in" / "b.parquet"
    write(pa, pq, shard)
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "in" / "*.parquet"),
                                      str(tmp_path / "out"), "--workers", "1", "--fp32", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"✘ {shard}: {error}"), result.output


@pytest.mark.parametrize("statistics", [True, False])
@pytest.mark.parametrize("texts,error", [
    (["the cat sat", "a dog", None, "a bird"], 'record 3: "text" is missing (null)'),
    ([None, None], 'record 1: "text" is missing (null)'),  # a column of type null
    ([1, 2], 'the "text" column holds int64, not strings'),
])
def test_a_parquet_text_that_is_not_a_string_is_named_before_ray(pipeline, tmp_path, monkeypatch, texts, error,
                                                                  statistics):
    """A null text was found by a worker, after Ray's start-up (about a minute). It is found
    from the footer's null counts, or by reading the column where the footer has none (rows
    in groups of 2, so the null is in the second)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from layer_fusion import distributed
    from layer_fusion.cli import app

    def no_ray():
        raise AssertionError("Ray was started")

    monkeypatch.setattr(distributed, "_require_ray", lambda: type("Ray", (), {"is_initialized": staticmethod(no_ray)}))
    (tmp_path / "in").mkdir()
    shard = tmp_path / "in" / "a.parquet"
    pq.write_table(pa.table({"text": texts}), shard, write_statistics=statistics, row_group_size=2)
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "in" / "*.parquet"),
                                      str(tmp_path / "out"), "--workers", "1", "--fp32", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"✘ {shard}: {error}"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.jsonl"))


def test_no_running_cluster_is_one_line(pipeline, tmp_path, monkeypatch):
    """Ray's own error, raised here: with another test's local instance running, a real
    --address auto would find it (this process's, or through /tmp/ray in another)."""
    from typer.testing import CliRunner

    from layer_fusion.cli import app

    def no_cluster(address=None, **kwargs):
        assert address == "auto"
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to by "
                              "setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    pattern = write_shards(tmp_path / "in", [2])
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), pattern, str(tmp_path / "out"),
                                      "--address", "auto", "--fp32", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "✘ address 'auto': Could not find any running Ray instance. Please specify " \
        "the one to connect to by setting `--address` flag or `RAY_ADDRESS` environment variable."


def test_cli_checks_the_pipeline_and_the_output_folder_before_ray(pipeline, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from layer_fusion import distributed
    from layer_fusion.cli import app

    monkeypatch.setattr(distributed, "tag_dataset", lambda *a, **kw: pytest.fail("reached Ray"))
    pattern = write_shards(tmp_path / "in", [3])
    missing = CliRunner().invoke(app, ["tag-dataset", str(tmp_path / "nope"), pattern, str(tmp_path / "out")])
    assert missing.exit_code == 2 and "no such folder; check the path" in " ".join(missing.output.split())
    (tmp_path / "file").write_text("x")
    clash = CliRunner().invoke(app, ["tag-dataset", str(pipeline), pattern, str(tmp_path / "file")])
    assert clash.exit_code == 2 and "it is a file, not a folder" in " ".join(clash.output.split())


def test_cli(ray_local, pipeline, tmp_path):
    from typer.testing import CliRunner

    from layer_fusion.cli import app

    pattern = write_shards(tmp_path / "in", [30, 20])
    args = ["tag-dataset", str(pipeline), pattern, str(tmp_path / "out"), "--workers", "2", "--batch-size", "8",
            "--fp32"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "50 records in 2 shard(s)" in result.output
    assert read_outputs(tmp_path / "out") == single_process_records(str(pipeline), pattern, batch_size=8)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "nothing to do" in again.output
    bad = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "none" / "*.jsonl"), str(tmp_path / "o")])
    assert bad.exit_code == 2 and "no input shard matches" in bad.output


def test_only_empty_shards_and_name_clashes(ray_local, pipeline, tmp_path):
    pattern = write_shards(tmp_path / "in", [0, 0])
    assert tag_dataset(str(pipeline), pattern, tmp_path / "out", progress=False) == {
        "part-000.jsonl": 0, "part-001.jsonl": 0}
    assert read_outputs(tmp_path / "out") == {"part-000.jsonl": [], "part-001.jsonl": []}
    for sub in ("a", "b"):
        write_shards(tmp_path / "two" / sub, [3])
    with pytest.raises(ValueError, match="several shards named 'part-000'"):
        tag_dataset(str(pipeline), str(tmp_path / "two" / "**" / "*.jsonl"), tmp_path / "o2", progress=False)


def test_int8_workers_tag_every_record(ray_local, pipeline, tmp_path):
    """In int8 a line's tags can depend on its batch-mates, so records are compared on their
    words and on valid tags, not on every tag."""
    from layer_fusion.distributed import load_for_tagging

    assert load_for_tagging(str(pipeline), int8=True).meta["layer_fusion"]["encoder_dtype"] == "int8"
    pattern = write_shards(tmp_path / "in", [30, 20])
    assert tag_dataset(str(pipeline), pattern, tmp_path / "out", workers=2, batch_size=8, progress=False,
                       int8=True) == {"part-000.jsonl": 30, "part-001.jsonl": 20}
    fp32 = single_process_records(str(pipeline), pattern, batch_size=8)
    labels = set(load_for_tagging(str(pipeline)).get_pipe("morphologizer").labels)
    for name, records in read_outputs(tmp_path / "out").items():
        ours = [json.loads(r) for r in records]
        theirs = [json.loads(r) for r in fp32[name]]
        assert [(r["text"], r["tokens"]) for r in ours] == [(r["text"], r["tokens"]) for r in theirs]
        assert all(f"POS={tag}" in labels for r in ours for tag in r["pos"])


def test_cli_precision_default_and_missing_onnxruntime(pipeline, tmp_path, monkeypatch):
    """int8 unless --fp32, as `layer-fusion tag` on the CPU; without onnxruntime, --int8 is a
    one-line error before any worker starts."""
    from typer.testing import CliRunner

    import layer_fusion.distributed as distributed
    import layer_fusion.onnx_encoder as onnx_encoder
    from layer_fusion.cli import app
    from layer_fusion.quantization import INT8_BY_DEFAULT

    seen = []
    monkeypatch.setattr(distributed, "tag_dataset", lambda *a, **kw: seen.append(kw["int8"]) or {})
    base = ["tag-dataset", str(pipeline), str(tmp_path / "*.jsonl"), str(tmp_path / "out")]
    for extra in ([], ["--fp32"], ["--int8"]):
        assert CliRunner().invoke(app, base + extra).exit_code == 0
    assert INT8_BY_DEFAULT and seen == [True, False, True]  # int8 unless --fp32
    monkeypatch.undo()

    def missing():
        raise onnx_encoder.OnnxRuntimeMissing(onnx_encoder.INSTALL_HINT)

    monkeypatch.setattr(onnx_encoder, "import_onnxruntime", missing)
    write_shards(tmp_path / "in", [3])
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "in" / "*.jsonl"),
                                      str(tmp_path / "o"), "--int8"])
    assert result.exit_code == 2 and "--int8:" in result.output and onnx_encoder.INSTALL_HINT in result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_an_address_where_nothing_listens_is_one_line_at_once(pipeline, tmp_path, monkeypatch):
    """Ray retries such an address for minutes; the check connects once first. (Ray counts
    as not started here: another test's local instance may be running in this process.)"""
    import socket
    import time

    from typer.testing import CliRunner

    from layer_fusion.cli import app
    from layer_fusion.distributed import check_reachable

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: pytest.fail("ray.init was reached"))

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pattern = write_shards(tmp_path / "in", [2])
    start = time.monotonic()
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), pattern, str(tmp_path / "out"),
                                      "--address", f"127.0.0.1:{port}", "--fp32", "-q"])
    assert result.exit_code == 2 and time.monotonic() - start < 30, result.output
    assert result.output.strip() == f"✘ address '127.0.0.1:{port}': cannot connect to 127.0.0.1:{port} " \
                                    "(Connection refused)"
    with socket.socket() as server:  # something listens: the check lets Ray go on
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"ray://127.0.0.1:{server.getsockname()[1]}")
    check_reachable("auto")
    check_reachable(None)


def test_cli_without_ray_is_a_one_line_error_naming_the_extra(pipeline, tmp_path, monkeypatch):
    """As a missing `--lang` segmenter is: the fail icon, the pip command, exit 2, nothing written."""
    import sys

    from typer.testing import CliRunner

    from layer_fusion.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    write_shards(tmp_path / "in", [3])
    result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "in" / "*.jsonl"),
                                      str(tmp_path / "o"), "--fp32"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == '✘ tag-dataset needs Ray: pip install "spacy-layer-fusion[ray]"'
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_an_import_error_is_not_blamed_on_int8_unless_it_is_onnxruntime(pipeline, tmp_path, monkeypatch):
    """A dependency of reading the shards (pyarrow, for parquet) missing under --fp32 was
    reported as an --int8 error."""
    from typer.testing import CliRunner

    import layer_fusion.distributed as distributed
    from layer_fusion.cli import app

    def missing(*args, **kwargs):
        raise ImportError("No module named 'pyarrow'")

    monkeypatch.setattr(distributed, "tag_dataset", missing)
    for flag in ("--fp32", "--int8"):
        result = CliRunner().invoke(app, ["tag-dataset", str(pipeline), str(tmp_path / "*.parquet"),
                                          str(tmp_path / "o"), flag])
        assert result.exit_code == 2 and result.output.strip() == "✘ No module named 'pyarrow'", result.output


def test_texts_that_look_like_numbers_stay_texts(ray_local, pipeline, tmp_path):
    """Ray's line-by-line JSON reader (pandas) makes a column of number-like strings numbers
    ("1" -> 1.0, "NaN" -> a gap), and the run failed on records that hold strings: they are
    read as strings."""
    folder = tmp_path / "in"
    folder.mkdir()
    texts = ["1", "2.5", "-3", "NaN"]
    (folder / "numbers.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    pattern = str(folder / "*.jsonl")
    assert tag_dataset(str(pipeline), pattern, tmp_path / "out", workers=2, batch_size=4, progress=False) == {
        "numbers.jsonl": len(texts)}
    assert read_outputs(tmp_path / "out") == single_process_records(str(pipeline), pattern, batch_size=4)
    assert [json.loads(r)["text"] for r in read_outputs(tmp_path / "out")["numbers.jsonl"]] == texts


def test_an_output_folder_among_the_inputs(pipeline, tmp_path):
    """The folder of the inputs as OUTPUT_DIR would make each shard its own output (all 'done',
    nothing tagged): refused. An output folder inside the inputs' is not read as input on a rerun."""
    from layer_fusion.dataset_shards import input_shards

    pattern = write_shards(tmp_path / "data", [2, 3])
    with pytest.raises(ValueError, match=r"OUTPUT_DIR .*data holds the input shard .*part-000.jsonl, which would be its own"):
        tag_dataset(str(pipeline), pattern, tmp_path / "data", progress=False)
    out = tmp_path / "data" / "out"
    out.mkdir()
    (out / "part-000.jsonl").write_text("{}\n", encoding="utf-8")  # an earlier run's output
    recursive = str(tmp_path / "data" / "**" / "*.jsonl")
    assert [p.name for p in input_shards(recursive, out)] == ["part-000.jsonl", "part-001.jsonl"]
    with pytest.raises(ValueError, match="several shards named 'part-000'"):
        input_shards(recursive)


@pytest.mark.parametrize("frame", ["no rows", "no rows, object column", "no rows, list"])
def test_an_empty_parquet_shard_from_pandas_passes_the_checks(tmp_path, frame):
    """pandas writes the text column of an empty frame as null or double: no record is
    wrong, and Ray reads it as no rows (an empty output)."""
    import pandas as pd

    from layer_fusion.dataset_shards import check_parquet_shard

    shard = tmp_path / "a.parquet"
    {"no rows": lambda: pd.DataFrame(columns=["text"]),
     "no rows, object column": lambda: pd.DataFrame({"text": pd.Series([], dtype=object)}),
     "no rows, list": lambda: pd.DataFrame({"text": []})}[frame]().to_parquet(shard)
    check_parquet_shard(shard)
