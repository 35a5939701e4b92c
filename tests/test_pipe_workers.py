"""pipe_workers: a stream's workers are its own (another stream's, or a caller's processes
and queues, are not touched or taken for its own), and a worker that dies by itself, at once
or later, alone or with its siblings, ends the stream with WorkerDied instead of a wait for
ever. Each case runs in a fresh Python with a blank pipeline and two workers, as spaCy forks
them from the process that reads the stream."""
import multiprocessing
import os
import subprocess
import sys

import pytest

STREAM = """
import itertools, os, signal, subprocess, sys, spacy
from spacy.language import Language
from layer_fusion import pipe_workers
from layer_fusion.pipe_workers import WorkerDied, workers_ended_on_error

@Language.component("dies_on_boom")
def dies_on_boom(doc):
    if doc.text == "BOOM":  # the worker alone, as the kernel kills one for memory
        os.kill(os.getpid(), signal.SIGKILL)
    if doc.text == "FAIL":
        raise ValueError("boom")
    if doc.text == "BOOM ALL":  # every worker of the parent at once
        for pid in subprocess.run(["pgrep", "-P", str(os.getppid())], capture_output=True, text=True).stdout.split():
            if pid != str(os.getpid()):
                os.kill(int(pid), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    return doc

def pipeline():
    nlp = spacy.blank("en")
    nlp.add_pipe("dies_on_boom")
    return nlp

def stream(texts, nlp=None):
    nlp = nlp or pipeline()
    with workers_ended_on_error() as workers:
        yield from workers.results(nlp.pipe(workers.inputs(iter(texts)), n_process=2, batch_size=20))
"""


def _run(code: str) -> list:
    """The words ``code`` prints after STREAM's definitions, in a fresh Python; a failure when it
    exits non-zero or is still running after 120 s (a stream waiting for ever)."""
    try:
        done = subprocess.run([sys.executable, "-c", STREAM + code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        pytest.fail("still running after 120 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.parametrize("at", [0, 300])
def test_a_worker_that_dies_at_once_or_later_raises_worker_died(at):
    """At text 0 the worker dies before the watcher's first look: it was missed, and the
    stream waited for ever."""
    code = (f"texts = ['the cat sat on the mat'] * 400; texts[{at}] = 'BOOM'\n"
            "try:\n"
            "    print('completed', sum(1 for _ in stream(texts)))\n"
            "except WorkerDied as err:\n"
            "    print('raised', 'killed by SIGKILL' in str(err))\n")
    assert _run(code) == ["raised", "True"]


def test_workers_killed_together_raise_worker_died_before_the_watcher_looks():
    """Every worker killed at once ends the pipe before the watcher looks (here it never does):
    the stream's end-of-file error is still WorkerDied."""
    code = ("pipe_workers.WATCH_INTERVAL = 3600\n"
            "texts = ['the cat sat on the mat'] * 400; texts[300] = 'BOOM ALL'\n"
            "try:\n"
            "    print('completed', sum(1 for _ in stream(texts)))\n"
            "except WorkerDied as err:\n"
            "    print('raised', 'killed by SIGKILL' in str(err))\n")
    assert _run(code) == ["raised", "True"]


def test_a_component_that_fails_in_a_worker_raises_its_own_error():
    """A worker runs the wrapped error handler too (forked with it): it used to end its
    sibling, whose death the parent then reported as WorkerDied instead of the error."""
    code = ("texts = ['the cat sat on the mat'] * 4000; texts[300] = 'FAIL'\n"
            "for attempt in range(3):\n"
            "    try:\n"
            "        print('completed', sum(1 for _ in stream(texts)))\n"
            "    except WorkerDied as err:\n"
            "        print('WorkerDied')\n"
            "    except ValueError as err:\n"
            "        print('raised', 'boom' in str(err))\n")
    assert _run(code) == ["raised", "True"] * 3


def test_a_stream_stopped_early_does_not_end_another_streams_workers():
    """Two streams read in turn in one thread; the second stops after 10 docs, which ends its
    own workers. The first used to take their deaths for its own workers' and raise."""
    code = ("texts = ['the cat sat on the mat'] * 4000\n"
            "first = stream(texts); next(first)\n"
            "second = stream(texts)\n"
            "print(sum(1 for _ in itertools.islice(second, 10))); second.close()\n"
            "print(1 + sum(1 for _ in first))\n")
    assert _run(code) == ["10", "4000"]


def test_two_streams_of_one_pipeline_ending_out_of_order_still_end_on_an_error():
    """Stream A starts, then B, on the same pipeline; A ends first, then a component fails in
    B. The error handler A had wrapped was put back to spaCy's while B ran, so B hung in
    spaCy's join (long texts: a worker blocked on a full pipe)."""
    code = ("nlp = pipeline(); big = ' '.join(['word'] * 3000)\n"
            "texts = [big] * 400; texts[210] = 'FAIL'\n"
            "a = stream(['x'] * 100, nlp); b = stream(texts, nlp); next(a); next(b)\n"
            "print(1 + sum(1 for _ in a))\n"
            "try:\n"
            "    sum(1 for _ in b)\n"
            "except ValueError as err:\n"
            "    print('raised', 'boom' in str(err))\n")
    assert _run(code) == ["100", "raised", "True"]


def test_an_interrupt_in_the_reading_process_ends_the_workers():
    """Ctrl-C in a notebook reaches the reading process alone, inside spaCy's wait for results:
    spaCy's join then waited for ever on workers blocked sending long texts."""
    code = ("import threading, time\n"
            "big = ' '.join(['word'] * 3000)\n"
            "threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
            "try:\n"
            "    for _ in stream([big] * 100000): pass\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted')\n")
    assert _run(code) == ["interrupted"]


def test_a_stream_read_inside_the_callers_except_block_joins_its_workers():
    """The reader's own exception, being handled while it reads the stream, is not an error
    leaving the stream: its workers were killed at the end (spaCy's W127), not joined. An error
    in the stream read there still ends them."""
    code = ("import warnings\n"
            "try:\n"
            "    raise KeyError('the reader handles this')\n"
            "except KeyError:\n"
            "    with warnings.catch_warnings(record=True) as seen:\n"
            "        warnings.simplefilter('always')\n"
            "        print(sum(1 for _ in stream(['the cat sat'] * 400)))\n"
            "    print('W127' if any('W127' in str(w.message) for w in seen) else 'joined')\n"
            "    try:\n"
            "        for _ in stream(['the cat sat'] * 300 + ['FAIL'] + [' '.join(['word'] * 3000)] * 4000): pass\n"
            "    except ValueError as err:\n"
            "        print('raised', 'boom' in str(err))\n")
    assert _run(code) == ["400", "joined", "raised", "True"]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_streams_run_with_every_start_method(method):
    """spawn (macOS) and forkserver pickle the pipeline for the workers: a wrapped error handler,
    a local function, could not be pickled. A stream completes, and an input error ends it."""
    code = (f"import multiprocessing; multiprocessing.set_start_method('{method}')\n"
            "if __name__ == '__main__':\n"
            "    nlp = spacy.blank('en')\n"
            "    def texts(n, fail_at=None):\n"
            "        for i in range(n):\n"
            "            if i == fail_at: raise ValueError('bad input')\n"
            "            yield 'the cat sat'\n"
            "    def run(items):\n"
            "        with workers_ended_on_error() as workers:\n"
            "            return sum(1 for _ in workers.results(nlp.pipe(workers.inputs(items), n_process=2, batch_size=20)))\n"
            "    print(run(texts(400)))\n"
            "    try:\n"
            "        run(texts(4000, fail_at=300))\n"
            "    except ValueError as err:\n"
            "        print('raised', 'bad input' in str(err))\n")
    assert _run(code) == ["400", "raised", "True"]


def test_a_stream_left_open_at_exit_does_not_hold_up_the_exit():
    """A stream read once and kept (a global): multiprocessing's exit joined its workers, one
    blocked sending long texts, for ever."""
    code = ("big = ' '.join(['word'] * 3000)\n"
            "kept = stream([big] * 4000); next(kept)\n"
            "print('left')\n")
    assert _run(code) == ["left"]


def test_only_what_is_made_while_a_stream_is_advanced_is_its_own():
    """spaCy's workers and the queues made inside a stream's ``next`` (marked by ``results``)
    are its own; a caller's process made there, or a queue made in the same block outside it,
    is not. The module attributes are put back when the last block ends, nested or not."""
    from spacy.language import _apply_pipes

    from layer_fusion.pipe_workers import PipeWorkers, _advancing, _recording

    original = multiprocessing.Process, multiprocessing.Queue
    workers = PipeWorkers()
    made = {"before": multiprocessing.Process(target=print)}
    with _recording():
        # code written for multiprocessing.Process sees the class it stands for
        assert isinstance(made["before"], multiprocessing.Process) and not isinstance(1, multiprocessing.Process)
        assert issubclass(original[0], multiprocessing.Process) and not issubclass(int, multiprocessing.Process)
        with _recording():
            _advancing.workers = workers
            try:
                made["process"] = multiprocessing.Process(target=_apply_pipes)  # spaCy's worker, never started
                made["other"] = multiprocessing.Process(target=print)  # a caller's
                made["queue"] = multiprocessing.Queue()
            finally:
                _advancing.workers = None
        assert (multiprocessing.Process, multiprocessing.Queue) != original  # the outer block still records
        outside = multiprocessing.Queue()
        assert isinstance(made["process"], original[0])
    assert (multiprocessing.Process, multiprocessing.Queue) == original
    assert workers.processes == [made["process"]] and workers.queues == [made["queue"]]
    for queue in (made["queue"], outside):
        queue.close()
