"""The worker processes of spaCy's ``nlp.pipe(n_process > 1)``, ended at once when the stream
stops early: an error in the input, in a worker, or in the code reading the results, or a
reader that stops reading.

Why. spaCy joins its workers when its stream ends (the ``finally`` of
``Language._multiprocessing_pipe``). A worker blocked on sending a batch of results to the
parent's full pipe never gets there, since its siblings, forked with every pipe open, hold
the pipe's read end too: the join waits for ever, and ``layer-fusion tag --n-process 2``
hung silently on an invalid UTF-8 line or a full disk. Ending the workers first lets the
join return, and the error reach whoever called.

A worker that dies by itself (the kernel kills it when memory runs out) made the parent wait
for ever too: it waits on that worker's pipe, whose write end the living siblings still hold.
A watcher thread sees the death, ends the other workers, so that the parent's wait ends, and
the stream raises ``WorkerDied``, which says how the worker ended.

Ended workers leave spaCy's queues of texts for them unread. A queue's feeder thread can be
blocked on the full pipe to a dead worker, and the interpreter's exit joins it, for ever (a
Python program that caught the error then hung at exit). So the queues made while the block
runs, in its thread (``multiprocessing.Queue`` is wrapped for that, then restored), are told
not to be joined (``Queue.cancel_join_thread``) when their workers are ended: what they still
held was for processes that are gone.

Only the processes started while the block runs are ended: a caller's own children are not
touched.
"""
from __future__ import annotations

import multiprocessing
import signal
import threading
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, TypeVar

T = TypeVar("T")

# How often the watcher looks at the workers (seconds): a dead worker is noticed within it.
WATCH_INTERVAL = 0.1


class WorkerDied(RuntimeError):
    """A worker process of ``nlp.pipe`` ended by itself while the stream ran: the results it
    held are lost."""


class PipeWorkers:
    """What ``workers_ended_on_error`` gives its block: wrappers for the input of ``nlp.pipe``
    and for its stream, which end the workers started since the block began before an error
    goes on."""

    def __init__(self, before, queues: List):
        self._before = before
        self._queues = queues  # made in the block's thread while it runs (_queues_made_here)
        self._ending = False  # set before end() kills: those deaths are not reported
        self._died: Optional[str] = None  # how a worker that ended by itself ended

    def end(self) -> None:
        """Kill the worker processes started since the block began; their queues are not
        joined at exit."""
        self._ending = True
        for child in set(multiprocessing.active_children()) - self._before:
            child.kill()
        for queue in list(self._queues):
            queue.cancel_join_thread()

    def _watch(self, stop: threading.Event) -> None:
        """Until ``stop``: every ``WATCH_INTERVAL``, the workers started since the block began
        (remembered, since ``active_children`` forgets the dead); the first to have ended
        with a non-zero exit, unless ``end`` killed it, is recorded and the others ended."""
        workers = set()
        while not stop.wait(WATCH_INTERVAL):
            workers |= set(multiprocessing.active_children()) - self._before
            dead = [worker for worker in workers if worker.exitcode not in (None, 0)]
            if dead and not self._ending:
                self._died = _how_it_ended(dead[0])
                self.end()
                return

    def inputs(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, for ``nlp.pipe``: an error reading them ends the workers first (spaCy
        reads them inside its stream, so the error would reach its join before the caller)."""
        try:
            yield from items
        except BaseException:
            self.end()
            raise

    def results(self, stream: Iterable[T]) -> Iterator[T]:
        """``nlp.pipe``'s stream: when the reader stops (an error where it reads, or it stops
        reading: ``GeneratorExit``), the workers are ended before the stream is closed, which
        joins them. A plain loop, not ``yield from``, which would close the stream first.

        While it is read, a worker that dies by itself is watched for (``_watch``): the
        others are ended, and the error the stream then raises (end of file on the pipe)
        becomes ``WorkerDied``."""
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), name="pipe-workers-watcher", daemon=True)
        watcher.start()
        try:
            for item in stream:
                yield item
        except BaseException as err:
            self.end()
            if self._died is not None and isinstance(err, (EOFError, OSError)):
                raise WorkerDied(self._died) from err
            raise
        finally:
            stop.set()
            watcher.join()


@contextmanager
def workers_ended_on_error(nlp) -> Iterator[PipeWorkers]:
    """While the block runs, ``nlp.pipe``'s workers are ended before an error leaves it: one
    of the input (``PipeWorkers.inputs``), one of a worker, which spaCy raises through
    ``nlp.default_error_handler`` (wrapped here for the block's duration; a handler that does
    not raise goes on as before), or one where the stream is read (``PipeWorkers.results``)."""
    with _queues_made_here() as queues:
        workers = PipeWorkers(set(multiprocessing.active_children()), queues)
        handler = nlp.default_error_handler

        def handled_or_workers_ended(proc_name, proc, docs, error):
            try:
                return handler(proc_name, proc, docs, error)
            except BaseException:  # the stream stops (spaCy's default handler raises)
                workers.end()
                raise

        nlp.default_error_handler = handled_or_workers_ended
        try:
            yield workers
        finally:
            nlp.default_error_handler = handler


# Threads inside a _queues_made_here block -> the lists its blocks record into (one per block:
# two taggers read in turn in one thread both get the thread's queues).
_recording: Dict[int, List[List]] = {}
_recording_lock = threading.Lock()
_make_queue = None  # multiprocessing.Queue as it was before the first block began


def _recorded_queue(*args, **kwargs):
    """``multiprocessing.Queue`` while some block records: the queue, recorded for the blocks of
    the thread that made it."""
    queue = _make_queue(*args, **kwargs)
    for made in _recording.get(threading.get_ident(), ()):
        made.append(queue)
    return queue


@contextmanager
def _queues_made_here() -> Iterator[List]:
    """The ``multiprocessing.Queue`` objects made in this thread while the block runs (spaCy
    makes its workers' queues with ``multiprocessing.Queue()``); the module attribute is
    restored when the last block of any thread ends."""
    global _make_queue
    made: List = []
    me = threading.get_ident()
    with _recording_lock:
        if not _recording:
            _make_queue = multiprocessing.Queue
            multiprocessing.Queue = _recorded_queue
        _recording.setdefault(me, []).append(made)
    try:
        yield made
    finally:
        with _recording_lock:
            blocks = _recording[me]
            blocks[:] = [block for block in blocks if block is not made]  # by identity: empty lists are equal
            if not blocks:
                del _recording[me]
            if not _recording and multiprocessing.Queue is _recorded_queue:
                multiprocessing.Queue = _make_queue


def _how_it_ended(worker) -> str:
    """``WorkerDied``'s message for ``worker``, a process that ended with a non-zero exit."""
    code = worker.exitcode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        how = f"killed by {name}" + (" (what the kernel sends when memory runs out)" if -code == signal.SIGKILL else "")
    else:
        how = f"exit code {code}"
    return (f"a worker process of nlp.pipe (pid {worker.pid}) ended while tagging, {how}; its results are "
            "lost. If memory ran out, fewer worker processes or smaller batches need less")
