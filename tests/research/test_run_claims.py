"""Claims on research runs (layer_fusion.research.run_claims), with real processes: a live
holder keeps its run, a killed one frees it at once, and of many processes racing for a
free run exactly one gets it."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from layer_fusion.research.run_claims import claim, lock_path, release

# A process that claims OUT when the file GO appears, prints whether it got it, and then
# holds on until it is killed or its stdin closes.
CLAIMANT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from layer_fusion.research.run_claims import claim
    out, go = Path(sys.argv[1]), Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    print(claim(out), flush=True)
    sys.stdin.read()
""")


def claimant(out, go):
    return subprocess.Popen([sys.executable, "-c", CLAIMANT, str(out), str(go)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_a_claim_is_held_until_released(tmp_path):
    out = tmp_path / "sweep" / "AIF-L3_-1-s0.json"
    assert claim(out)
    assert lock_path(out).read_text() == f"{os.getpid()}\n"
    assert not claim(out)  # held, by this process too
    release(out)
    assert not lock_path(out).exists()
    assert claim(out)
    release(out)
    release(out)  # not held: nothing happens


def test_a_lock_file_without_a_live_holder_is_free(tmp_path):
    out = tmp_path / "probe" / "LastLayer-L3-s0.json"
    out.parent.mkdir()
    lock_path(out).write_text("999999999\n")  # left by a run that crashed
    assert claim(out)
    release(out)


def test_a_killed_holder_frees_its_run_at_once(tmp_path):
    out, go = tmp_path / "run.json", tmp_path / "go"
    go.touch()
    holder = claimant(out, go)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert not claim(out)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
        assert lock_path(out).exists()  # it never released: the file stays, the lock does not
        assert claim(out)
        release(out)
    finally:
        holder.kill()


def test_of_processes_racing_for_a_crashed_run_exactly_one_gets_it(tmp_path):
    # Three rounds of eight: a pid-file claim let two racers in about one round in ten.
    for round_ in range(3):
        out, go = tmp_path / f"run{round_}.json", tmp_path / f"go{round_}"
        lock_path(out).write_text("999999999\n")
        racers = [claimant(out, go) for _ in range(8)]
        try:
            time.sleep(1)  # let every racer start and wait for the signal
            go.touch()
            results = [r.stdout.readline().strip() for r in racers]
            assert sorted(results) == ["False"] * 7 + ["True"]
        finally:
            for r in racers:
                r.kill()
                r.wait(timeout=60)
