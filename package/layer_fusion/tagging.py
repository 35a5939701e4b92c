"""Tag plain text line by line with a trained pipeline, streaming, in bounded memory.

The pieces, in the order data flows through them:

* ``input_lines.read_lines``: lazily decode input files (or stdin) into lines; one line =
  one record, so ``tag`` gives exactly one ``TaggedLine`` per input line (CoNLL-U then
  writes none for a line without words).
* ``LineTagger.tag``: NFC-normalize each line (NFD Yoruba otherwise loses tone marks in the
  subword tokenizer), tokenize it (spaCy's tokenizer, or split on whitespace but not on
  no-break spaces with ``pretokenized``: ``pretokenized_words``), and tag ``lookahead`` lines
  at a time with ``nlp.pipe``, sorted by
  wordpieces so batches pad little (``length_order.py``). All windows go through one
  ``nlp.pipe`` stream, so ``n_process`` worker processes (spaCy's multiprocessing) keep busy
  across windows.
  Records come out in input order; reading runs at most a few windows ahead of the output,
  and every doc's hidden states (``doc._.trf_data``) are dropped as soon as it is tagged,
  so memory does not grow with the input.
* ``output_formats.FORMATS`` writes each ``TaggedLine`` as CoNLL-U, JSONL or ``word/TAG`` text.

Long lines. spacy-transformers' ``strided_spans`` windows count spaCy tokens (e.g. 128), not
wordpieces, and ``truncate_oversize_splits`` silently drops every wordpiece past the
tokenizer's ``model_max_length`` (512) from the end of a span: the tokens there get no
vector at all (an all-zero feature). A 128-token window of words of 4+ subwords each, or one
token of more than 512 subwords, hits this. So before tagging, each doc's windows are
measured in wordpieces (each token tokenized on its own); a doc with a window over budget,
or longer than ``MAX_CHUNK_TOKENS`` tokens, is cut into consecutive chunks of at most
``budget`` wordpieces and ``MAX_CHUNK_TOKENS`` tokens, which are tagged as docs of their own
and put back together. Every window of a chunk then fits, and a single token over budget is
a chunk alone, where it keeps its first wordpieces (instead of possibly none). Every token
gets a tag; context is cut at chunk boundaries only.

Many windows. ``FusionTransformer.pipe`` keeps a batch of several docs within
``max_batch_items`` padded wordpieces, (windows) x (widest window), but never splits one doc:
a line of many short sentences and a long one runs through the encoder in passes within the
bound (``FusionTransformer.predict``), but its hidden states are held at once (packed, without
padding, in the shipped pipeline; padded to the long window's width otherwise), and its windows
are not sorted with other lines'. Such a doc (or chunk) is cut in two at the
sentence start nearest the middle of its wordpieces, else at that middle, until its windows fit
(``LineTagger._within_one_pass``); with windows inside sentences (the shipped pipeline) the
cuts lose no context. So no forward pass of ``layer-fusion tag`` exceeds the bound, but one of a
lone token, which fits the encoder's 512 wordpieces. To measure windows as the pipeline will
cut them, ``make_doc`` runs the components before the transformer (a sentencizer), and
``nlp.pipe`` then skips them.
"""
from __future__ import annotations

import re
import unicodedata
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Deque, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .length_order import DEFAULT_BATCH_SIZE, find_transformer_pipe, length_order
from .layers.word_alignment import silence_false_length_warning
from .pipe_workers import workers_ended_on_error

# Longest doc (in spaCy tokens) sent to the transformer in one piece: a longer line is tagged
# in chunks, so one huge line cannot make one huge forward pass.
MAX_CHUNK_TOKENS = 512
# Share of the model's wordpiece limit a chunk may fill: per-token counts can differ a little
# from counts in context.
WORDPIECE_MARGIN = 0.9
# Sorting 1,000 lines at a time pads less than sorting 4 batches; 1,000 lines of text and
# docs cost a few MiB at most. (The batch size: length_order.DEFAULT_BATCH_SIZE.)
DEFAULT_LOOKAHEAD = 1000


@dataclass
class TaggedLine:
    """One input line: its NFC text, its words (whitespace tokens left out) and their UPOS;
    ``spaces[i]``: whether whitespace follows word i in the text (None: not known)."""

    text: str
    words: List[str]
    tags: List[str]
    spaces: Optional[List[bool]] = None



def wordpiece_limit(trf_model) -> int:
    """Most wordpieces (specials included) one window may have: the tokenizer's
    ``model_max_length``, capped by the model's position embeddings."""
    limits = []
    max_len = getattr(trf_model.tokenizer, "model_max_length", None)
    if max_len is not None and max_len < 1_000_000:
        limits.append(int(max_len))
    config = getattr(trf_model.transformer, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        # RoBERTa-style models number positions from pad_token_id + 1.
        offset = (config.pad_token_id or 0) + 1 if "roberta" in str(config.model_type) else 0
        limits.append(int(positions) - offset)
    return min(limits) if limits else 512


def has_trf_data_cleaner(nlp: Language) -> bool:
    """Whether the pipeline ends in a ``doc_cleaner`` that drops ``doc._.trf_data``."""
    from spacy.pipeline.functions import DocCleaner

    if not nlp.pipeline:
        return False
    last = nlp.pipeline[-1][1]
    return isinstance(last, DocCleaner) and "_.trf_data" in last.cfg.get("attrs", {})


@contextmanager
def one_thread_per_worker(n_process: int) -> Iterator[None]:
    """With ``n_process`` > 1, torch runs on one thread while spaCy forks its workers and
    they run (they inherit the setting); the previous count comes back after.

    Why: loading a pipeline already runs torch's parallel loops (copying large weight
    tensors), which start GNU OpenMP's thread pool; a forked worker that enters a parallel
    region with more than one thread waits forever on pool threads it does not have. With
    one thread, no region uses the pool. One thread per worker is also what spreads
    ``n_process`` workers over as many cores."""
    if n_process <= 1:
        yield
        return
    import torch

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


# Whitespace between words given as words: every Unicode space but the no-break ones (U+00A0,
# U+2007, U+202F). Those say "do not break here": they join the parts of a number ("10 000")
# and let a word with a space inside (a Vietnamese word of several syllables) be one word.
_BETWEEN_WORDS = re.compile(r"[^\S\u00a0\u2007\u202f]+")


def pretokenized_words(text: str) -> Tuple[List[str], bool]:
    """The words of a line of words separated by whitespace, and whether whitespace ends it:
    ``"10<U+00A0>000  francs<tab>"`` gives ``(["10<U+00A0>000", "francs"], True)``. A no-break
    space joins only inside a word: at a word's edge it is dropped, as other whitespace is (a
    word never begins or ends with whitespace, which CoNLL-U readers refuse)."""
    words = [word.strip() for word in _BETWEEN_WORDS.split(text) if word.strip()]
    return words, bool(words) and text[-1].isspace()


class LineTagger:
    """Tags lines of text with ``nlp``; see the module docstring for the design.

    batch_size: docs per ``nlp.pipe`` batch.
    pretokenized: the words are the whitespace-separated parts of the line (a no-break space
        is part of a word: ``pretokenized_words``).
    lookahead: lines read and sorted by wordpieces at a time (default: ``DEFAULT_LOOKAHEAD``, or 4
        batches if that is more, so a window always holds several batches to sort); it bounds,
        with ``batch_size`` (``nlp.pipe`` reads a whole batch first), how far reading runs ahead
        of the output.
    n_process: worker processes for ``nlp.pipe`` (spaCy's multiprocessing; 1: this process),
        one torch thread each (``one_thread_per_worker``). An error, or a reader that stops
        reading ``tag``'s records, ends them; a worker that dies by itself (killed when memory
        runs out) ends the others and raises ``WorkerDied`` (``pipe_workers``).
    """

    def __init__(
        self,
        nlp: Language,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pretokenized: bool = False,
        lookahead: Optional[int] = None,
        n_process: int = 1,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if n_process < 1:
            raise ValueError(f"n_process={n_process} must be >= 1")
        self.n_process = n_process
        self.nlp = nlp
        self.batch_size = batch_size
        self.pretokenized = pretokenized
        self.lookahead = lookahead if lookahead is not None else max(DEFAULT_LOOKAHEAD, 4 * batch_size)
        if self.lookahead < 1:
            raise ValueError(f"lookahead={self.lookahead} must be >= 1")
        # Chunking bounds the work per doc; the character limit guards parser memory only.
        nlp.max_length = max(nlp.max_length, 10**12)
        self.cleans_itself = has_trf_data_cleaner(nlp)
        trf = find_transformer_pipe(nlp)
        self._tokenizer = None
        self._get_spans: Optional[Callable] = None
        self._before_transformer: List[Callable[[Doc], Doc]] = []
        self._before_names: List[str] = []
        self.budget = 0
        self.max_items: Optional[int] = None
        self._specials = 0
        if trf is not None:
            model = trf.model
            limit = wordpiece_limit(model)
            tokenizer = model.tokenizer
            if tokenizer.model_max_length > limit:
                # truncate_oversize_splits trusts model_max_length; past the position
                # embeddings the model would crash instead.
                tokenizer.model_max_length = limit
            specials = tokenizer.num_special_tokens_to_add(pair=False)
            # The one window still longer than the encoder takes is a lone over-long token,
            # tagged on its first wordpieces by design. The stock spacy-transformers forward
            # pass (not the project's) would still pass on transformers' warning about it.
            silence_false_length_warning(tokenizer)
            self._tokenizer = tokenizer
            self._get_spans = model.attrs["get_spans"]
            # Components before the transformer (a sentencizer) can decide its windows
            # (sentence_spans.py), so make_doc runs them, before the windows are measured,
            # and nlp.pipe then skips them.
            before = nlp.pipeline[:[p for _, p in nlp.pipeline].index(trf)]
            self._before_names = [name for name, _ in before]
            self._before_transformer = [proc for _, proc in before]
            self.budget = max(1, int((limit - specials) * WORDPIECE_MARGIN))
            self.max_items = trf.cfg.get("max_batch_items")
            self._specials = specials

    # -- public ----------------------------------------------------------------

    def tag(self, lines: Iterable[str]) -> Iterator[TaggedLine]:
        """One TaggedLine per line, in order.

        Windows of ``lookahead`` lines are tokenized, chunked and sorted by wordpieces; their
        pieces flow through a single ``nlp.pipe`` (which keeps order, also with several
        processes), and a window's records are written once its last piece is back.
        """
        pending: Deque[_Window] = deque()

        def pieces() -> Iterator[Tuple[Doc, int]]:
            for window in self._windows(lines):
                pending.append(window)
                for n, (_, _, piece) in enumerate(window.pieces):
                    yield piece, n

        if self.n_process == 1:
            yield from self._tag_in_order(pieces(), pending)
            return
        # An error, or a reader that stops reading, would leave spaCy joining workers that
        # wait for ever (pipe_workers): they are ended first.
        with one_thread_per_worker(self.n_process), workers_ended_on_error() as workers:
            yield from self._tag_in_order(workers.inputs(pieces()), pending, workers.results)

    def _tag_in_order(self, pieces: Iterator[Tuple[Doc, int]], pending: Deque["_Window"],
                      results: Callable[[Iterator], Iterator] = iter) -> Iterator[TaggedLine]:
        tagged = results(self.nlp.pipe(pieces, as_tuples=True, batch_size=self.batch_size,
                                       n_process=self.n_process, disable=self._before_names))  # make_doc ran them
        for out, n in tagged:
            while not pending[0].pieces:  # windows with nothing to tag (empty lines)
                yield from pending.popleft().records()
            window = pending[0]
            i, start, _ = window.pieces[n]
            if not self.cleans_itself and out.has_extension("trf_data"):
                out._.trf_data = None  # hidden states of every layer: free them now
            window.tags[i][start:start + len(out)] = [token.pos_ for token in out]
            window.done += 1
            if window.done == len(window.pieces):
                yield from pending.popleft().records()
        while pending:
            yield from pending.popleft().records()

    def make_doc(self, text: str) -> Doc:
        """The doc of ``text`` as the transformer will get it: tokenized (split on whitespace
        but not inside words at no-break spaces with ``pretokenized``: ``pretokenized_words``),
        then given to the components before the transformer."""
        if self.pretokenized:
            words, space_at_end = pretokenized_words(text)
            # Doc's default puts a space after every word, the last too: it follows the text here
            spaces = [True] * (len(words) - 1) + [space_at_end] if words else []
            return self._before_transformer_on(Doc(self.nlp.vocab, words=words, spaces=spaces))
        return self._before_transformer_on(self.nlp.make_doc(text))

    def chunk_bounds(self, doc: Doc) -> List[Tuple[int, int]]:
        """Token ranges [start, end) of ``doc`` (from ``make_doc``) to tag as separate docs,
        one range if the doc fits: every encoder window within ``budget`` wordpieces, at most
        ``MAX_CHUNK_TOKENS`` tokens, and its windows within one forward pass of
        ``max_batch_items`` padded positions, (windows) x (widest window + special tokens)."""
        n = len(doc)
        if self._tokenizer is None or n == 0:
            return [(0, n)]
        upper = wordpiece_upper_bound(doc)
        if n <= MAX_CHUNK_TOKENS and upper <= self.budget and self._fits_one_pass(len(self._spans(doc)), upper):
            return [(0, n)]  # fits whatever the tokenizer does: no need to tokenize it twice
        counts = self.wordpiece_counts(doc)
        if n <= MAX_CHUNK_TOKENS and all(sum(counts[s.start:s.end]) <= self.budget for s in self._spans(doc)):
            bounds = [(0, n)]
        else:
            bounds = []
            start, used = 0, 0
            for i, count in enumerate(counts):
                if i > start and (used + count > self.budget or i - start >= MAX_CHUNK_TOKENS):
                    bounds.append((start, i))
                    start, used = i, 0
                used += count
            bounds.append((start, n))
        return [piece for start, end in bounds for piece in self._within_one_pass(doc, start, end, counts)]

    def wordpiece_counts(self, doc: Doc) -> List[int]:
        """Wordpieces of each token, tokenized on its own, without special tokens."""
        from .compact_tokenizer import is_compact  # imports transformers: not at CLI start-up

        if is_compact(self._tokenizer):
            return [len(ids) for ids in self._tokenizer.encode_words([t.text for t in doc])]
        encoded = self._tokenizer([t.text for t in doc], add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    # -- internals ---------------------------------------------------------------

    def _before_transformer_on(self, doc: Doc) -> Doc:
        for proc in self._before_transformer:
            doc = proc(doc)
        return doc

    def _spans(self, doc: Doc) -> list:
        """The encoder windows of ``doc`` (the transformer's ``get_spans``)."""
        try:
            return self._get_spans([doc])[0] or [doc[:]]
        except Exception:  # noqa: BLE001 - e.g. a getter that needs what a doc does not have
            return [doc[:]]

    def _fits_one_pass(self, rows: int, widest: int) -> bool:
        """Whether ``rows`` windows of at most ``widest`` wordpieces (special tokens left out)
        fit one forward pass."""
        return self.max_items is None or rows * (widest + self._specials) <= self.max_items

    def _within_one_pass(self, doc: Doc, start: int, end: int, counts: List[int]) -> List[Tuple[int, int]]:
        """[start, end) of ``doc``, cut until each piece's windows fit one forward pass.

        ``FusionTransformer.pipe`` keeps a batch of docs within ``max_batch_items``, but one doc
        is never split there: a paragraph of many short sentences and one long one holds
        (sentences) x (the long one's wordpieces) hidden states. Such a piece is cut in two, at the sentence
        start nearest the middle of its wordpieces (where windows inside sentences lose no
        context), else at that middle, until it fits; a lone token always does."""
        piece = doc if (start, end) == (0, len(doc)) else self._before_transformer_on(_sub_doc(doc, start, end))
        windows = self._spans(piece)
        widest = max(sum(counts[start + s.start:start + s.end]) for s in windows)
        if end - start == 1 or self._fits_one_pass(len(windows), widest):
            return [(start, end)]
        cut = _middle_cut(doc, start, end, counts)
        return self._within_one_pass(doc, start, cut, counts) + self._within_one_pass(doc, cut, end, counts)

    def _windows(self, lines: Iterable[str]) -> Iterator["_Window"]:
        buffer: List[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= self.lookahead:
                yield self._window(buffer)
                buffer = []
        if buffer:
            yield self._window(buffer)

    def _window(self, lines: List[str]) -> "_Window":
        texts = [unicodedata.normalize("NFC", line) for line in lines]
        docs = [self.make_doc(text) for text in texts]
        pieces: List[Tuple[int, int, Doc]] = []  # (line index, first token, doc to tag)
        for i, doc in enumerate(docs):
            if all(token.is_space for token in doc):
                continue  # nothing to tag (empty or whitespace-only line)
            for start, end in self.chunk_bounds(doc):
                piece = doc if (start, end) == (0, len(doc)) else self._before_transformer_on(_sub_doc(doc, start, end))
                pieces.append((i, start, piece))
        # By wordpieces, not tokens: batches then pad little (length_order.py).
        words = [[token.text for token in piece] for _, _, piece in pieces]
        pieces = [pieces[k] for k in length_order(self.nlp, words, self._tokenizer)]
        return _Window(texts, docs, [[""] * len(doc) for doc in docs], pieces)


@dataclass
class _Window:
    """``lookahead`` lines on their way through the pipeline: tags fill in as pieces return."""

    texts: List[str]
    docs: List[Doc]
    tags: List[List[str]]
    pieces: List[Tuple[int, int, Doc]]
    done: int = 0

    def records(self) -> Iterator[TaggedLine]:
        for text, doc, doc_tags in zip(self.texts, self.docs, self.tags):
            # A word before a whitespace token (a line break, a second space) has whitespace after it.
            kept = [(t.text, tag, bool(t.whitespace_) or (t.i + 1 < len(doc) and doc[t.i + 1].is_space))
                    for t, tag in zip(doc, doc_tags) if not t.is_space]
            yield TaggedLine(text=text, words=[w for w, _, _ in kept], tags=[g for _, g, _ in kept],
                             spaces=[space for _, _, space in kept])


def _sub_doc(doc: Doc, start: int, end: int) -> Doc:
    tokens = doc[start:end]
    return Doc(
        doc.vocab,
        words=[t.text for t in tokens],
        spaces=[bool(t.whitespace_) for t in tokens],
    )


def _middle_cut(doc: Doc, start: int, end: int, counts: Sequence[int]) -> int:
    """A token index in (start, end) to cut [start, end) at: the sentence start (``doc``'s)
    whose wordpieces before it are nearest half the range's, else the first token at or past
    that half."""
    half = sum(counts[start:end]) / 2
    before, running = {}, 0
    for i in range(start, end):
        before[i] = running
        running += counts[i]
    starts = [i for i in range(start + 1, end) if doc[i].is_sent_start] if doc.has_annotation("SENT_START") else []
    if starts:
        return min(starts, key=lambda i: abs(before[i] - half))
    return next((i for i in range(start + 1, end) if before[i] >= half), end - 1)


def wordpiece_upper_bound(doc: Doc) -> int:
    """At least as many wordpieces as any usual tokenizer gives ``doc``'s tokens, each
    tokenized on its own, without special tokens; computed without tokenizing.

    A wordpiece covers at least one byte of the (normalized) token text: one character for
    WordPiece and SentencePiece models, one byte for byte-level BPE; an unknown word is one
    piece. Each token may add one more piece for its word-start marker (``▁``, ``Ġ``).
    Normalizers can lengthen text (NFKC turns U+FDFA into 18 characters; lowercasing İ gives
    two), so the bytes are counted in the longest of the text's lowercased NFKC and NFKD
    forms. The whole text is measured at once: spaces between tokens only loosen the bound.
    """
    text = doc.text
    lowered = text.lower()
    longest = max(len(form.encode("utf-8")) for form in (
        text, unicodedata.normalize("NFKC", lowered), unicodedata.normalize("NFKD", lowered)))
    return longest + len(doc)
