"""An exception's message as one line, for errors that must fit on one line."""
from __future__ import annotations


def one_line(err: BaseException) -> str:
    """The message's non-blank lines joined by spaces (confection and configparser errors
    span several); the exception's type name when it has no message."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__
