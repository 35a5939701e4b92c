"""Writers for ``layer-fusion tag`` output: one ``TaggedLine`` as CoNLL-U, JSONL or
``word/TAG`` text. Every writer returns whole lines, so an output stays one record per
input line whatever characters the text holds."""
from __future__ import annotations

import json
from typing import Callable, Dict

from .tagging import TaggedLine

# Characters that str.splitlines or a universal-newline reader treats as a line break, plus
# tab (the CoNLL-U column separator). Line-oriented outputs must not contain them raw.
_LINE_BREAKS = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_TO_SPACE = str.maketrans({c: " " for c in _LINE_BREAKS})
_JSON_ESCAPES = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line(text: str) -> str:
    """``text`` with every line-break-like character (and tab) replaced by a space."""
    return text.translate(_TO_SPACE)


def format_conllu(record: TaggedLine, sent_id: int) -> str:
    """A CoNLL-U sentence: ID, FORM and UPOS filled, ``SpaceAfter=No`` in MISC where no
    whitespace follows a word inside the line (so the words give the text back, each run of
    whitespace as one space; ``# text`` keeps the line as it was, but for tabs and line-break-like
    characters, spaces there: ``one_line``), the other columns ``_``.
    ``sent_id`` is the line number. A line without words (empty, or only spaces) gives
    nothing: CoNLL-U has no empty sentence (readers such as ``spacy convert`` fail on a block
    without words)."""
    if not record.words:
        return ""
    rows = [f"# sent_id = {sent_id}", f"# text = {one_line(record.text)}"]
    last = len(record.words)
    for i, (word, tag) in enumerate(zip(record.words, record.tags), 1):
        joined = record.spaces is not None and i < last and not record.spaces[i - 1]
        misc = "SpaceAfter=No" if joined else "_"
        rows.append(f"{i}\t{one_line(word)}\t_\t{tag or '_'}\t_\t_\t_\t_\t_\t{misc}")
    return "\n".join(rows) + "\n\n"


def format_jsonl(record: TaggedLine, sent_id: int) -> str:
    """``{"text": ..., "tokens": [...], "pos": [...]}`` on one line."""
    line = json.dumps(
        {"text": record.text, "tokens": record.words, "pos": record.tags}, ensure_ascii=False
    )
    return line.translate(_JSON_ESCAPES) + "\n"


def format_text(record: TaggedLine, sent_id: int) -> str:
    """``word/TAG`` pairs separated by single spaces (an empty line for an empty record).
    Whitespace inside a word (a Vietnamese word of several syllables, from ``--lang vi``)
    becomes ``_``, the usual way to write such words, so that splitting a line on spaces
    gives its pairs back."""
    return " ".join(f"{'_'.join(one_line(w).split())}/{t}" for w, t in zip(record.words, record.tags)) + "\n"


FORMATS: Dict[str, Callable[[TaggedLine, int], str]] = {
    "conllu": format_conllu,
    "jsonl": format_jsonl,
    "text": format_text,
}
