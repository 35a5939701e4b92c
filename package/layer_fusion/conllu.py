"""A small streaming CoNLL-U reader for UPOS evaluation and corpus conversion.

Kept: the syntactic words (FORM, NFC-normalized), whether a space follows each word,
the UPOS tag, and the morphological features, heads and relations (the intermediate
tasks of the intermediate-task stage train on them). Multiword-token ranges (``n-m``)
are replaced by their parts; their surface form is kept in ``Sentence.tokens`` (the
surface tokens a tokenizer of raw text is scored against); empty nodes (``n.m``) are
skipped.

Spaces: a word is followed by a space unless its MISC says ``SpaceAfter=No``; the last
part of a multiword token takes the ``SpaceAfter`` of the multiword token line.

Comments: ``# key = value`` lines are kept in ``Sentence.meta``. Document-level keys
(``newdoc id``, ``meta::*``, ``global.*``) are inherited by every following sentence
until the next ``# newdoc``, so that ``meta::genre`` (written once per GUM document)
is visible on each sentence. A ``# newdoc`` line without an id (bare, or ``# newdoc = title``
as Belarusian-HSE writes it) stays on its own sentence: it marks where a document starts. A comment without `` = `` is kept with value ``""``.
"""
from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

from .error_text import utf8_error_at

UPOS_TAGS = frozenset(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)

_N_COLUMNS = 10
_BOM = b"\xef\xbb\xbf"
_INT_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^([1-9][0-9]*)-([1-9][0-9]*)$")
_EMPTY_ID = re.compile(r"^(0|[1-9][0-9]*)\.[1-9][0-9]*$")
_GUM_SENT_ID = re.compile(r"^GUM_([a-z]+)_")
# EWT document ids start with their subcorpus, the five genres its README lists.
_EWT_GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")
_DOC_LEVEL_KEYS = ("newdoc id", "newdoc")
_KNOWN_KEY = re.compile(r"^(sent_id|text)\s*=(.*)$")
_DOC_LEVEL_PREFIXES = ("meta::", "global.")


class ConlluError(ValueError):
    """A malformed CoNLL-U line; the message names the file and the 1-based line number."""

    def __init__(self, path: Union[str, Path], line_no: int, reason: str):
        self.path = str(path)
        self.line_no = line_no
        self.reason = reason
        super().__init__(f"{self.path}:{line_no}: {reason}")


@dataclass
class Sentence:
    """One CoNLL-U sentence reduced to syntactic words.

    words, spaces and upos are parallel lists of length ``len(self)``; so are feats, heads,
    deprels and misc, the columns as written ("" or None for ``_``), for files that have them.
    tokens: the surface tokens (NFC), a multiword token as one; token_words[k] = (i, j)
    means surface token k is syntactic words i..j-1 (j = i + 1 unless it is a multiword
    token). Both are empty for sentences built by hand.
    line: 1-based line number of the sentence's first line (comment or token) in its file.
    """

    sent_id: Optional[str]
    text: Optional[str]
    words: List[str]
    spaces: List[bool]
    upos: List[str]
    meta: Dict[str, str] = field(default_factory=dict)
    line: int = 0
    tokens: List[str] = field(default_factory=list)
    token_words: List[Tuple[int, int]] = field(default_factory=list)
    feats: List[str] = field(default_factory=list)
    heads: List[Optional[int]] = field(default_factory=list)
    deprels: List[str] = field(default_factory=list)
    misc: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    def surface_tokens(self) -> Tuple[List[str], List[Tuple[int, int]]]:
        """``tokens`` and ``token_words``; for a sentence built by hand without them, one
        surface token per word."""
        if self.tokens:
            return self.tokens, self.token_words
        return list(self.words), [(i, i + 1) for i in range(len(self.words))]

    def to_doc(self, vocab, with_upos: bool = False, **annotations):
        """A spaCy Doc on the syntactic words (already NFC) and their spaces; with
        ``with_upos`` it also carries the gold UPOS, and ``annotations`` (heads, deps,
        tags, ...) go to the Doc constructor as they are."""
        from spacy.tokens import Doc

        if with_upos:
            annotations["pos"] = self.upos
        return Doc(vocab, words=self.words, spaces=self.spaces, **annotations)

    @property
    def doc_id(self) -> Optional[str]:
        return self.meta.get("newdoc id")

    @property
    def genre(self) -> Optional[str]:
        """The genre the treebank records, if any.

        Order: ``# meta::genre`` (GUM, inherited from the document), then the GUM sent_id
        pattern ``GUM_<genre>_<doc>-<n>``. Treebank-specific conventions beyond these (EWT's
        subcorpus prefix of document ids) are left to the caller: see ``ewt_genre``.
        """
        genre = self.meta.get("meta::genre")
        if genre:
            return genre
        if self.sent_id:
            match = _GUM_SENT_ID.match(self.sent_id)
            if match:
                return match.group(1)
        return None

    def ewt_genre(self) -> Optional[str]:
        """EWT's subcorpus (answers, email, newsgroup, reviews, weblog): the prefix of its
        document ids and sent_ids. Only meaningful for UD_English-EWT; other treebanks use
        similar prefixes with other meanings (ArmTDP has ``news-`` and ``reviews-`` ids)."""
        for key in (self.doc_id, self.sent_id):
            if key:
                prefix = key.split("-", 1)[0]
                if prefix in _EWT_GENRES:
                    return prefix
        return None


class ConlluReader:
    """Iterate over the sentences of one CoNLL-U file, streaming, validating as it goes.

    After a full iteration, ``n_sentences`` and ``n_empty_skipped`` hold the counts;
    sentences with no syntactic word are skipped with a ``UserWarning``, not an error.
    Handles a UTF-8 BOM (also at the start of a later line, as files joined with ``cat`` have
    it), CRLF line ends and a missing final blank line.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.n_sentences = 0
        self.n_empty_skipped = 0

    def __iter__(self) -> Iterator[Sentence]:
        self.n_sentences = 0
        self.n_empty_skipped = 0
        doc_meta: Dict[str, str] = {}
        meta: Dict[str, str] = {}
        rows: List[tuple] = []
        start = 0
        line_no = 0
        offset = 0
        # Bytes, decoded line by line: an invalid byte is then an error naming its line.
        with open(self.path, "rb") as f:
            for line_no, raw_bytes in enumerate(f, start=1):
                # A byte-order mark starts line 1, or a later line of files joined with cat;
                # no line of CoNLL-U begins with U+FEFF otherwise (an ID, "#", or blank).
                bom = len(_BOM) if raw_bytes.startswith(_BOM) else 0
                try:
                    raw = raw_bytes[bom:].decode("utf-8")
                except UnicodeDecodeError as err:
                    where = utf8_error_at(bom + err.start, offset + bom + err.start)  # ConlluError names the line
                    raise ConlluError(self.path, line_no, f"not valid UTF-8 ({err.reason}) at {where}") from None
                offset += len(raw_bytes)
                line = raw.rstrip("\r\n")
                if "\r" in line:
                    raise ConlluError(self.path, line_no, "a carriage return inside the line: a file with "
                                                          "CR-only line ends? Convert them to LF")
                if not line.strip():
                    if start:
                        sentence = self._finish(doc_meta, meta, rows, start)
                        if sentence is not None:
                            yield sentence
                    meta, rows, start = {}, [], 0
                    continue
                if not start:
                    start = line_no
                if line.startswith("#"):
                    if rows:
                        raise ConlluError(self.path, line_no, "comment line inside a sentence")
                    key, value = _parse_comment(line)
                    if key in _DOC_LEVEL_KEYS:
                        doc_meta = {}
                    if key == "newdoc id" or key.startswith(_DOC_LEVEL_PREFIXES):
                        doc_meta[key] = value
                    meta[key] = value
                    continue
                rows.append((line_no, line))
        if start:
            sentence = self._finish(doc_meta, meta, rows, start)
            if sentence is not None:
                yield sentence
        if self.n_empty_skipped:
            warnings.warn(
                f"{self.path}: skipped {self.n_empty_skipped} sentence(s) without words",
                UserWarning,
                stacklevel=2,
            )

    def _finish(self, doc_meta, meta, rows, start) -> Optional[Sentence]:
        words: List[str] = []
        spaces: List[bool] = []
        upos: List[str] = []
        feats: List[str] = []
        heads: List[Optional[int]] = []
        head_lines: List[int] = []  # the line of each word, to name one whose HEAD is past the end
        deprels: List[str] = []
        misc: List[str] = []
        tokens: List[str] = []
        token_words: List[Tuple[int, int]] = []
        mwt_end = 0  # id of the last part of the open multiword token, 0 if none
        mwt_space = True
        for line_no, line in rows:
            cols = line.split("\t")
            if len(cols) != _N_COLUMNS:
                raise ConlluError(
                    self.path, line_no, f"expected {_N_COLUMNS} tab-separated columns, found {len(cols)}"
                )
            tid = cols[0]
            if not cols[1].strip() and not _EMPTY_ID.match(tid):
                # a FORM of spaces is no word (UD allows spaces only inside one): it matched
                # nothing in the sentence's text, which the raw-text evaluation then refused
                raise ConlluError(self.path, line_no, "empty FORM column" if not cols[1] else "FORM is only whitespace")
            if cols[1] != cols[1].strip():
                # UD allows spaces inside a FORM only; at its edge the form is not what the
                # sentence's text holds, and the raw-text evaluation could not place it
                raise ConlluError(self.path, line_no, f"FORM {cols[1]!r} begins or ends with whitespace")
            if _INT_ID.match(tid):
                n = int(tid)
                if n != len(words) + 1:
                    raise ConlluError(
                        self.path, line_no, f"word id {n} out of sequence (expected {len(words) + 1})"
                    )
                if cols[3] not in UPOS_TAGS:
                    raise ConlluError(self.path, line_no, f"UPOS {cols[3]!r} is not one of the 17 UD tags")
                words.append(unicodedata.normalize("NFC", cols[1]))
                upos.append(cols[3])
                feats.append("" if cols[5] == "_" else cols[5])
                deprels.append("" if cols[7] == "_" else cols[7])
                misc.append("" if cols[9] == "_" else cols[9])
                head_lines.append(line_no)
                if cols[6] == "_":
                    heads.append(None)
                elif cols[6].isascii() and cols[6].isdigit():  # not "²", which int() refuses
                    heads.append(int(cols[6]))
                else:
                    raise ConlluError(self.path, line_no, f"HEAD {cols[6]!r} is not a word id, 0 or _")
                if not mwt_end:
                    tokens.append(words[-1])
                    token_words.append((n - 1, n))
                space = not _space_after_no(cols[9])
                if mwt_end and n == mwt_end:
                    space = mwt_space
                    mwt_end = 0
                spaces.append(space)
                continue
            match = _RANGE_ID.match(tid)
            if match:
                first, last = int(match.group(1)), int(match.group(2))
                if mwt_end:  # overlapping, nested or repeated ranges: words would get two tokens
                    raise ConlluError(self.path, line_no, f"multiword token range {tid!r} begins inside the "
                                                          f"range ending at word {mwt_end}")
                if first != len(words) + 1 or last <= first:
                    raise ConlluError(self.path, line_no, f"bad multiword token range {tid!r}")
                mwt_end, mwt_space = last, not _space_after_no(cols[9])
                tokens.append(unicodedata.normalize("NFC", cols[1]))
                token_words.append((first - 1, last))
                continue
            if _EMPTY_ID.match(tid):
                continue
            raise ConlluError(self.path, line_no, f"ID {tid!r} is not a word id (1, 2, ... without leading zeros), "
                                                  "a range n-m or an empty node n.m")
        if mwt_end:
            raise ConlluError(self.path, rows[-1][0], "multiword token range runs past the end of the sentence")
        if not words:
            self.n_empty_skipped += 1
            return None
        bad = [(h, line) for h, line in zip(heads, head_lines) if h is not None and h > len(words)]
        if bad:
            raise ConlluError(self.path, bad[0][1], f"HEAD {bad[0][0]} points past the last word ({len(words)})")
        self.n_sentences += 1
        merged = dict(doc_meta)
        merged.update(meta)
        return Sentence(
            sent_id=merged.get("sent_id"),
            text=merged.get("text"),
            words=words,
            spaces=spaces,
            upos=upos,
            meta=merged,
            line=start,
            tokens=tokens,
            token_words=token_words,
            feats=feats,
            heads=heads,
            deprels=deprels,
            misc=misc,
        )


def read_conllu(path: Union[str, Path]) -> ConlluReader:
    """Stream the sentences of a CoNLL-U file: ``for sent in read_conllu(path): ...``.

    Raises ConlluError (a ValueError) on a malformed line, FileNotFoundError if absent.
    """
    return ConlluReader(path)


def _parse_comment(line: str):
    body = line[1:].strip()
    if " = " in body:
        key, value = body.split(" = ", 1)
        return key.strip(), value.strip()
    if body.endswith(" ="):
        return body[:-2].strip(), ""
    # The two keys the evaluation reads, also when written without the spaces around '='
    # (Vietnamese-VTB has "# text =Thanh ...").
    match = _KNOWN_KEY.match(body)
    if match:
        return match.group(1), match.group(2).strip()
    return body, ""


def _space_after_no(misc: str) -> bool:
    return misc != "_" and "SpaceAfter=No" in misc.split("|")
