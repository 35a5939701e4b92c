"""Input lines for ``layer-fusion tag``: files (or stdin) decoded lazily, one line per record.

Lines are split on ``\\n`` only (not on U+2028, ``\\x0b`` ...), so each input line is one
record; a ``\\r`` before it is dropped, and so is a UTF-8 byte-order mark at a source's
start. Invalid UTF-8 is an error naming the file, byte offset and line, or U+FFFD with
``errors="replace"``.
"""
from __future__ import annotations

import sys
from typing import BinaryIO, Iterator, Optional, Sequence

from .error_text import utf8_error_at

STDIN = "-"
_BOM = b"\xef\xbb\xbf"


class InputDecodeError(ValueError):
    """An input line is not valid UTF-8 (with ``errors="strict"``)."""


class InputReadError(ValueError):
    """An input file could not be opened or read (the message names it and says why)."""


def read_lines(
    sources: Sequence[str],
    errors: str = "strict",
    stdin: Optional[BinaryIO] = None,
) -> Iterator[str]:
    """Lines of each source in turn (``"-"``: stdin), without their line terminator.

    errors: "strict" raises InputDecodeError naming the file, byte offset and line of the
        first invalid byte; "replace" puts U+FFFD in its place.
    A UTF-8 byte-order mark at the start of a source is skipped.
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors={errors!r}: use 'strict' or 'replace'")
    for source in sources or [STDIN]:
        if source == STDIN:
            yield from _decode_lines(stdin if stdin is not None else sys.stdin.buffer, "<stdin>", errors)
        else:
            # Only opening and reading are inside the try: an error of the consumer never
            # enters this generator, so it cannot be reported as the input's.
            try:
                with open(source, "rb") as handle:
                    yield from _decode_lines(handle, source, errors)
            except OSError as err:
                raise InputReadError(f"cannot read {source}: {err.strerror or err}") from None


def _decode_lines(handle: BinaryIO, name: str, errors: str) -> Iterator[str]:
    offset = 0
    for line_no, raw in enumerate(handle, 1):
        start = line_start = offset
        offset += len(raw)
        if line_no == 1 and raw.startswith(_BOM):
            raw, start = raw[len(_BOM):], start + len(_BOM)
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        try:
            yield raw.decode("utf-8", errors=errors)
        except UnicodeDecodeError as err:
            where = utf8_error_at(start + err.start - line_start, start + err.start, line_no)
            raise InputDecodeError(
                f"{name}: not valid UTF-8 at {where}; convert it to UTF-8 or rerun with --errors replace"
            ) from None
