"""The worker processes of spaCy's ``nlp.pipe(n_process > 1)``, ended at once when the stream
stops early: an error in the input, in a worker, in the code reading the results or anywhere
in the reading process (an interrupt), a reader that stops reading, or a worker that dies by
itself.

Why. spaCy joins its workers when its stream ends (the ``finally`` of
``Language._multiprocessing_pipe``). A worker blocked on sending a batch of results to the
parent's full pipe never gets there, since its siblings, forked with every pipe open, hold
the pipe's read end too: the join waits for ever, and ``layer-fusion tag --n-process 2``
hung silently on an invalid UTF-8 line or a full disk. So a worker's ``join`` called while
an exception is on its way out (``sys.exc_info()``: spaCy's ``finally``) ends the stream's
workers first, and the error reaches whoever called. An exception that the reader was
already handling when it asked for the next item (a stream read inside the caller's own
``except`` block) is not one on its way out: a stream that ends there joins its workers.

A worker that dies by itself (the kernel kills it when memory runs out) made the parent wait
for ever too: it waits on that worker's pipe, whose write end the living siblings still hold.
A watcher thread sees the death, ends the other workers, so that the parent's wait ends, and
the stream raises ``WorkerDied``, which says how the worker ended. (A worker that exits by
itself with code 0 looks like one that finished, and is not caught.) A stream still open when
the interpreter exits has its workers ended first (multiprocessing would join them).

Ended workers leave spaCy's queues of texts for them unread. A queue's feeder thread can be
blocked on the full pipe to a dead worker, and the interpreter's exit joins it, for ever (a
Python program that caught the error then hung at exit). So those queues are told not to be
joined (``Queue.cancel_join_thread``) when their workers are ended: what they still held was
for processes that are gone.

Which processes and queues are a stream's own: spaCy's workers (processes running
``spacy.language._apply_pipes``) and the queues made while that stream is being advanced
(``PipeWorkers.results`` marks each ``next`` of it, in its thread, and ``PipeWorkers.inputs``
unmarks the reading of the caller's input). While any block runs, ``multiprocessing.Process``
and ``multiprocessing.Queue`` make recorded ones (a subclass of the process class, and a
wrapper of the queue function); both are restored when the last block ends. So a caller's own
processes and queues, and another stream's, are not touched, and a process that some stream
ended on purpose is not taken for one that died by itself.
"""
from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import weakref
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, TypeVar

T = TypeVar("T")

# How often the watcher looks at the workers (seconds): a dead worker is noticed within it.
WATCH_INTERVAL = 0.1


class WorkerDied(RuntimeError):
    """A worker process of ``nlp.pipe`` ended by itself while the stream ran: the results it
    held are lost. ``exitcode``: the worker's (negative: the signal that killed it)."""

    def __init__(self, message: str, exitcode: Optional[int] = None):
        super().__init__(message)
        self.exitcode = exitcode


# The PipeWorkers whose stream this thread is advancing (inside its ``next``), if any
# (``workers``), and the exception the reader was handling when it asked for that item
# (``handled``), if any.
_advancing = threading.local()
# Processes that some PipeWorkers.end() killed: their deaths were asked for.
_ended_on_purpose: "weakref.WeakSet" = weakref.WeakSet()
# Streams being read (PipeWorkers.results running): ended at the interpreter's exit.
_open_streams: "weakref.WeakSet" = weakref.WeakSet()


class PipeWorkers:
    """What ``workers_ended_on_error`` gives its block: wrappers for the input of ``nlp.pipe``
    and for its stream, which end the stream's workers before an error goes on."""

    def __init__(self):
        # The process that reads the stream: a worker, forked with a copy of this object,
        # must not end its siblings.
        self._pid = os.getpid()
        self.processes: List[multiprocessing.Process] = []  # made while the stream is advanced
        self.queues: List = []
        self._ending = False  # set before end() kills
        self._died: Optional[multiprocessing.Process] = None  # the first worker that ended by itself

    def end(self) -> None:
        """Kill the stream's worker processes; their queues are not joined at exit. Nothing
        in a worker."""
        if os.getpid() != self._pid:
            return
        if self._died is None:  # one that died by itself before these are killed (whoever ends them)
            self._died = self.first_death()
        self._ending = True
        for process in list(self.processes):
            _ended_on_purpose.add(process)
            if process.pid is not None:  # started (kill() of a finished one does nothing)
                process.kill()
        for queue in list(self.queues):
            queue.cancel_join_thread()

    def first_death(self) -> Optional[multiprocessing.Process]:
        """The first of the stream's workers that ended by itself with a non-zero exit, or None."""
        for process in list(self.processes):
            if process.pid is not None and process not in _ended_on_purpose \
                    and process.exitcode not in (None, 0):
                return process
        return None

    def _watch(self, stop: threading.Event) -> None:
        """Until ``stop`` or ``end``: every ``WATCH_INTERVAL``, whether a worker ended by
        itself; then it is recorded and the others ended."""
        while not stop.wait(WATCH_INTERVAL) and not self._ending:
            died = self.first_death()
            if died is not None:
                self._died = died
                self.end()
                return

    def inputs(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, for ``nlp.pipe``: spaCy reads them inside its stream, so what the
        caller's code makes while they are read (a process, a queue) is unmarked as the
        stream's own. (An error reading them ends the workers: spaCy's join.)"""
        yield from _marked(items, None)

    def results(self, stream: Iterable[T]) -> Iterator[T]:
        """``nlp.pipe``'s stream: when the reader stops (an error where it reads, or it stops
        reading: ``GeneratorExit``), the workers are ended before the stream is closed, which
        joins them. Each ``next`` of the stream is marked as this stream's (the processes and
        queues made in it are its own).

        While it is read, a worker that dies by itself is watched for (``_watch``): the
        others are ended, and the error the stream then raises (end of file on the pipe)
        becomes ``WorkerDied``. ``end`` looks too: the pipe can end before the watcher has
        looked (every worker killed at once)."""
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), name="pipe-workers-watcher", daemon=True)
        watcher.start()
        _open_streams.add(self)
        try:
            for item in _marked(stream, self):  # a loop, not yield from: end() comes before closing
                yield item
        except BaseException as err:
            self.end()  # already done by spaCy's join, for most errors
            if self._died is not None and isinstance(err, (EOFError, OSError)):
                raise WorkerDied(_how_it_ended(self._died), self._died.exitcode) from err
            raise
        finally:
            _open_streams.discard(self)
            stop.set()
            watcher.join()


def _marked(items: Iterable[T], workers: Optional[PipeWorkers]) -> Iterator[T]:
    """``items``, each ``next`` of them run with ``workers`` as the stream this thread is
    advancing (None: none) and the exception its reader is handling, then both marks put
    back. (Inside a generator, ``sys.exc_info()`` gives the exception its reader handles.)"""
    iterator = iter(items)
    while True:
        previous = getattr(_advancing, "workers", None), getattr(_advancing, "handled", None)
        _advancing.workers, _advancing.handled = workers, sys.exc_info()[1]
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            _advancing.workers, _advancing.handled = previous
        yield item


@contextmanager
def workers_ended_on_error() -> Iterator[PipeWorkers]:
    """While the block runs, the workers of the stream read through ``PipeWorkers.results``
    (its input through ``PipeWorkers.inputs``) are ended before an error leaves it, or when
    one of them dies by itself (module docstring)."""
    with _recording():
        yield PipeWorkers()


class _StandsForProcess(type):
    """The type of ``_RecordedProcess``: ``isinstance`` and ``issubclass`` against it, which
    code written for ``multiprocessing.Process`` does while a block runs, answer as the class
    it replaced does (true for a process made before the block, from that class)."""

    def __instancecheck__(cls, obj) -> bool:
        if cls is _RecordedProcess and _original_process is not cls:
            return isinstance(obj, _original_process)
        return super().__instancecheck__(obj)

    def __subclasscheck__(cls, subclass) -> bool:
        if cls is _RecordedProcess and _original_process is not cls:
            return issubclass(subclass, _original_process)
        return super().__subclasscheck__(subclass)


class _RecordedProcess(multiprocessing.context.Process, metaclass=_StandsForProcess):
    """``multiprocessing.Process`` while a block runs: a spaCy worker made while a stream is
    being advanced is that stream's, and its ``join`` with an exception on its way out (spaCy's
    ``finally``; not one the reader was already handling) ends the stream's workers first."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        target = kwargs.get("target", args[1] if len(args) > 1 else None)
        workers = getattr(_advancing, "workers", None)
        self._stream = None
        if workers is not None and _is_spacy_worker(target):
            self._stream = workers
            workers.processes.append(self)

    def join(self, timeout=None):
        in_flight = sys.exc_info()[1]
        if self._stream is not None and in_flight is not None and in_flight is not getattr(_advancing, "handled", None):
            self._stream.end()
        return super().join(timeout)

    def __getstate__(self):
        # spawn and forkserver pickle the process: its stream stays in the parent
        state = dict(self.__dict__)
        state["_stream"] = None
        return state


def _is_spacy_worker(target) -> bool:
    """Whether ``target`` is the function spaCy's ``nlp.pipe`` workers run."""
    return getattr(target, "__name__", None) == "_apply_pipes" and \
        getattr(target, "__module__", None) == "spacy.language"


def _recorded_queue(*args, **kwargs):
    """``multiprocessing.Queue`` while a block runs: a queue made while a stream is being
    advanced is that stream's."""
    queue = _original_queue(*args, **kwargs)
    workers = getattr(_advancing, "workers", None)
    if workers is not None:
        workers.queues.append(queue)
    return queue


_lock = threading.Lock()
_blocks = 0  # blocks running, in all threads
_original_process = multiprocessing.Process
_original_queue = multiprocessing.Queue


@contextmanager
def _recording() -> Iterator[None]:
    """While the block runs (and any other thread's), ``multiprocessing.Process`` and
    ``multiprocessing.Queue`` record what they make for the stream being advanced; then both
    are put back, unless something else replaced them meanwhile."""
    global _blocks, _original_process, _original_queue
    with _lock:
        if _blocks == 0:
            _original_process, _original_queue = multiprocessing.Process, multiprocessing.Queue
            multiprocessing.Process, multiprocessing.Queue = _RecordedProcess, _recorded_queue
        _blocks += 1
    try:
        yield
    finally:
        with _lock:
            _blocks -= 1
            if _blocks == 0:
                if multiprocessing.Process is _RecordedProcess:
                    multiprocessing.Process = _original_process
                if multiprocessing.Queue is _recorded_queue:
                    multiprocessing.Queue = _original_queue


@atexit.register
def _end_open_streams() -> None:
    """At exit, end the workers of streams still open (multiprocessing's exit, registered
    before this, runs after it and joins them)."""
    for workers in list(_open_streams):
        workers.end()


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
