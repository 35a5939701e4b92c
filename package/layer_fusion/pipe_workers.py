"""The worker processes of spaCy's ``nlp.pipe(n_process > 1)``, ended at once when the stream
stops early: an error in the input, in a worker, or in the code reading the results, or a
reader that stops reading.

Why. spaCy joins its workers when its stream ends (the ``finally`` of
``Language._multiprocessing_pipe``). A worker blocked on sending a batch of results to the
parent's full pipe never gets there, since its siblings, forked with every pipe open, hold
the pipe's read end too: the join waits for ever, and ``layer-fusion tag --n-process 2``
hung silently on an invalid UTF-8 line or a full disk. Ending the workers first lets the
join return, and the error reach whoever called. (A worker that dies by itself, killed for
memory, is not covered: spaCy's stream raises then, before anything here runs.)

Only the processes started while the block runs are ended: a caller's own children are not
touched.
"""
from __future__ import annotations

import multiprocessing
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


class PipeWorkers:
    """What ``workers_ended_on_error`` gives its block: wrappers for the input of ``nlp.pipe``
    and for its stream, which end the workers started since the block began before an error
    goes on."""

    def __init__(self, before):
        self._before = before

    def end(self) -> None:
        """Kill the worker processes started since the block began."""
        for child in set(multiprocessing.active_children()) - self._before:
            child.kill()

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
        joins them. A plain loop, not ``yield from``, which would close the stream first."""
        try:
            for item in stream:
                yield item
        except BaseException:
            self.end()
            raise


@contextmanager
def workers_ended_on_error(nlp) -> Iterator[PipeWorkers]:
    """While the block runs, ``nlp.pipe``'s workers are ended before an error leaves it: one
    of the input (``PipeWorkers.inputs``), one of a worker, which spaCy raises through
    ``nlp.default_error_handler`` (wrapped here for the block's duration; a handler that does
    not raise goes on as before), or one where the stream is read (``PipeWorkers.results``)."""
    workers = PipeWorkers(set(multiprocessing.active_children()))
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
