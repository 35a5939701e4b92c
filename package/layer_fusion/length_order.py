"""Order and batch docs so that batches pad little: by wordpieces, not by words.

The encoder runs on padded batches, n_docs x (the longest doc's wordpieces), so its cost
follows the wordpieces of the longest doc in each batch. Docs sorted by their number of
words still differ a lot in wordpieces (a name, a number or a rare word is several pieces),
and the padding that leaves is wasted work: on English EWT test sentences in the
evaluation's batches, sorting by words leaves about half of the encoder's input as padding,
sorting by wordpieces little more than the bare encoder on raw text (``scripts/bench_inference.py``
writes the three shares to ``reports/bench/inference.md``).

A doc's wordpieces are counted as the pipeline counts them (``layers/word_alignment.py``):
each word tokenized on its own, without special tokens, in one batched tokenizer call.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

if TYPE_CHECKING:  # spaCy is imported by whoever passes a pipeline; the CLI starts faster
    from spacy.language import Language

# Docs per nlp.pipe batch for `layer-fusion tag` and `tag-dataset`, chosen with
# scripts/bench_tagging.py on a 2-core CPU (reports/bench/batch_size.md): with docs sorted by
# wordpieces and forward passes capped in padded wordpieces (FusionTransformer.pipe),
# batches of 64 tag fastest of 16, 32 and 64.
DEFAULT_BATCH_SIZE = 64


def find_transformer_pipe(nlp: Language):
    """The first component with a spacy-transformers TransformerModel, or None."""
    for _, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is not None and "get_spans" in model.attrs and model.attrs.get("has_transformer"):
            return pipe
    return None


def transformer_tokenizer(nlp: Language):
    """The Hugging Face tokenizer of ``nlp``'s transformer component, or None."""
    trf = find_transformer_pipe(nlp)
    return None if trf is None else trf.model.tokenizer


def wordpiece_lengths(tokenizer, word_lists: Sequence[Sequence[str]]) -> List[int]:
    """Wordpieces of each list of words, each word tokenized on its own, no special tokens;
    the number of words when there is no ``tokenizer``."""
    if tokenizer is None or not word_lists:
        return [len(words) for words in word_lists]
    from .compact_tokenizer import is_compact  # imports transformers: not at CLI start-up

    if is_compact(tokenizer):
        return [sum(map(len, per_word)) for per_word in tokenizer.encode_word_lists(word_lists)]
    encoded = tokenizer(
        [list(words) for words in word_lists], is_split_into_words=True, add_special_tokens=False, verbose=False
    )
    return [len(ids) for ids in encoded["input_ids"]]


def length_order(nlp: Language, word_lists: Sequence[Sequence[str]], tokenizer: Optional[object] = None) -> List[int]:
    """Indices of ``word_lists`` from the fewest wordpieces to the most (stable), counted with
    ``tokenizer`` or else ``nlp``'s transformer tokenizer (words when it has none)."""
    lengths = wordpiece_lengths(tokenizer if tokenizer is not None else transformer_tokenizer(nlp), word_lists)
    return sorted(range(len(lengths)), key=lengths.__getitem__)


def padded_batches(lengths: Sequence[int], max_padded: int, rows: Optional[Sequence[int]] = None) -> List[List[int]]:
    """Indices of ``lengths`` in batches, shortest first, each as large as it can be with
    (rows in the batch) * max(lengths in the batch) <= ``max_padded``; an item over the limit
    is a batch alone. ``rows[i]``: the rows item i puts in the padded forward pass, one each
    by default; a doc cut into several encoder windows (spans) gives one row per window, and
    ``lengths[i]`` is then its widest window.

    Like ``spacy_transformers.util.batch_by_length``, on the lengths given (wordpieces)
    instead of spaCy tokens: one line of URLs or numbers can be a few tokens and hundreds
    of wordpieces, and would otherwise pad its whole batch to its length."""
    rows = [1] * len(lengths) if rows is None else rows
    batches: List[List[int]] = []
    batch: List[int] = []
    n_rows = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        # Sorted: lengths[i] is the widest so far.
        if batch and lengths[i] * (n_rows + rows[i]) > max_padded:
            batches.append(batch)
            batch, n_rows = [], 0
        batch.append(i)
        n_rows += rows[i]
    if batch:
        batches.append(batch)
    return batches
