"""Error messages that must fit on one line: an exception's message, where a bad byte is."""
from __future__ import annotations

from typing import Optional


def one_line(err: BaseException) -> str:
    """The message's non-blank lines joined by spaces (confection and configparser errors
    span several); the exception's type name when it has no message."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def escape_line_breaks(text: str) -> str:
    """``text`` with its line breaks written as ``\\n`` and ``\\r``, kept rather than dropped:
    a file name can hold them, and the name must still be recognisable."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def utf8_error_at(byte_in_line: int, file_offset: int, line_no: Optional[int] = None) -> str:
    """Where an invalid UTF-8 byte is, said the same way by every reader: the byte of its line
    counting from 1 (a byte-order mark included), and its offset in the file counting from 0
    (what hex editors and ``dd skip=`` take). ``line_no`` is left out where the message
    already starts with ``file:line``."""
    line = f"line {line_no}, " if line_no is not None else ""
    return f"{line}byte {byte_in_line + 1} of the line (byte offset {file_offset} in the file)"
