"""Tokenize spaCy tokens as pre-split words and align wordpieces to them.

Stock spacy-transformers tokenizes each span's text and aligns wordpieces to
tokens by character offsets. With a SentencePiece vocabulary that gives a word
different pieces depending on its neighbours: "cat," becomes ``▁cat ,`` while
"cat ," becomes ``▁cat ▁,``, and a script without spaces becomes one long run of
pieces cut across token boundaries. Here every token is tokenized on its own
(``is_split_into_words=True``), so

    align(t) = { j : word_ids[span, j] = position of t in span }

and each wordpiece belongs to exactly one token. Tokens seen by two strided spans
align to their pieces in both, as in the stock alignment.

The output is the stock ``FullTransformerBatch`` (as ``doc_split.SplitBatch``, which splits
it per doc faster): listeners, pooling and serialization do not change. Only the forward
pass differs from ``spacy_transformers.layers.transformer_model.forward``. One exception:
a batch over ``fusion_transformer``'s bound, at inference, can come back with its hidden
states packed (``packed_batch.PackedBatch``), which listeners read by the same alignment.

Sentence-text tokenization has a second pitfall, which ``forward_text_trimmed`` fixes: a
tokenizer whose pre-tokenizer is a bare ``Metaspace`` (as in the multilingual-e5-small
``tokenizer.json`` the project builds from) reports offsets that include the space before
a word (``▁the`` in "From the" spans characters 4-8, the space included). The stock
offset alignment maps that space to the previous token, so every token is also pooled
with the next token's first piece. Trimming leading whitespace from each piece's offsets
restores a one-token alignment for such pieces.
"""
from typing import Callable, List, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged

from ..compact_tokenizer import is_compact
from .doc_split import SplitBatch, doc_offsets
from .inference_passes import PASSES
from .packed_batch import PackedBatch


def tokenize_words(tokenizer, spans: List[Span]):
    """Hugging Face batch encoding of each span's token texts as pre-split words,
    with the extra keys ``WordpieceBatch.from_batch_encoding`` expects, and ``word_ids``:
    an (n_spans, n_pieces) array of the word (token in the span) of each piece, -1 for
    special tokens and padding. The compact tokenizer (``compact_tokenizer.py``) builds
    the same encoding itself."""
    words = [[token.text for token in span] for span in spans]
    if is_compact(tokenizer):
        encoding = tokenizer.batch_encoding(words)
        encoding["pad_token"] = tokenizer.pad_token
        return encoding
    encoding = tokenizer(
        words,
        is_split_into_words=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="np",
        return_token_type_ids=None,
        padding="longest",
    )
    encoding["input_texts"] = [tokenizer.convert_ids_to_tokens(ids) for ids in encoding["input_ids"]]
    encoding["pad_token"] = tokenizer.pad_token
    encoding["word_ids"] = numpy.array(
        [[-1 if w is None else w for w in encoding.word_ids(i)] for i in range(len(spans))], dtype=numpy.int64
    ).reshape(len(spans), encoding["input_ids"].shape[1])
    return encoding


def word_alignment(spans: List[Span], encoding) -> Ragged:
    """Ragged over the docs' unique tokens (stock order: docs as first seen in ``spans``,
    tokens in doc order, as ``spacy_transformers.align.get_token_positions``): the sorted,
    distinct indices of each token's wordpieces in the flattened (n_spans * max_wordpieces)
    array. A token in no span gets none.

    Piece j of span i belongs to token offset(doc) + span.start + word_ids[i, j]; the pairs
    (token, i * width + j) are deduplicated and ordered by one ``numpy.unique`` on
    token * (n_spans * width) + piece, so no Python loop runs over tokens or pieces."""
    offsets = doc_offsets(spans)
    n_tokens = sum(len(doc) for doc in offsets)
    width = encoding["input_ids"].shape[1]
    n_pieces = len(spans) * width
    keys = []
    for i, span in enumerate(spans):
        word_ids = encoding["word_ids"][i]
        columns = numpy.flatnonzero(word_ids >= 0)
        tokens = offsets[span.doc] + span.start + word_ids[columns]
        keys.append(tokens * n_pieces + i * width + columns)
    keys = numpy.unique(numpy.concatenate(keys)) if keys else numpy.zeros(0, dtype=numpy.int64)
    flat = (keys % n_pieces).astype("i")
    lengths = numpy.bincount(keys // n_pieces, minlength=n_tokens).astype("i")
    return Ragged(flat, lengths)


def trimmed_offsets(texts: List[str], offset_mapping) -> numpy.ndarray:
    """(n_spans, n_pieces, 2) offsets with each piece's leading whitespace cut off
    (a piece that is only whitespace becomes empty and aligns to no token)."""
    offsets = numpy.array(offset_mapping, copy=True)
    for i, text in enumerate(texts):
        for j, (start, end) in enumerate(offsets[i]):
            while start < end and text[start].isspace():
                start += 1
            offsets[i, j, 0] = start
    return offsets


def text_alignment_trimmed(tokenizer, spans: List[Span]):
    """Stock sentence-text tokenization, aligned on whitespace-trimmed offsets."""
    texts = [span.text for span in spans]
    encoding = huggingface_tokenize(tokenizer, texts)
    return encoding, get_alignment_via_offset_mapping(spans, trimmed_offsets(texts, encoding["offset_mapping"]))


def word_encoding_and_alignment(tokenizer, spans: List[Span]):
    encoding = tokenize_words(tokenizer, spans)
    return encoding, word_alignment(spans, encoding)


def forward_split_words(model: Model, docs: List[Doc], is_train: bool) -> Tuple[SplitBatch, Callable]:
    """``TransformerModel`` forward with word-level tokenization (module docstring)."""
    return _forward(model, docs, is_train, word_encoding_and_alignment)


def forward_text_trimmed(model: Model, docs: List[Doc], is_train: bool) -> Tuple[SplitBatch, Callable]:
    """``TransformerModel`` forward on the span text with trimmed offsets (module docstring)."""
    return _forward(model, docs, is_train, text_alignment_trimmed)


def silence_false_length_warning(tokenizer) -> None:
    """Mark transformers' warning that a sequence over ``model_max_length`` "will result in
    indexing errors" as already given: ``truncate_oversize_splits`` cuts such a sequence
    before the model sees it, and ``FusionTransformer`` warns when that leaves a token
    without features. transformers keeps its said-once flags in ``deprecation_warnings``."""
    flags = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(flags, dict):
        flags["sequence-length-is-longer-than-the-specified-maximum"] = True


def _forward(model: Model, docs: List[Doc], is_train: bool, encode_and_align: Callable):
    tokenizer = model.tokenizer
    transformer = model.layers[0]
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    encoding, align = encode_and_align(tokenizer, flat_spans)
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    # At inference within FusionTransformer.predict, a batch over its bound may come back
    # packed (packed_batch.py): asked for only where the component knows what is read.
    settings = None if is_train else PASSES.get()
    if settings is not None and settings.keep is not None:
        settings.pack, settings.packed_lengths = True, None
        try:
            model_output, bp_tensors = transformer(wordpieces, is_train)
        finally:
            settings.pack = False
        if settings.packed_lengths is not None:
            output = PackedBatch.around(nested_spans, wordpieces, model_output, align, settings.packed_lengths)
            settings.packed_lengths = None
            return output, lambda d_output: docs
    else:
        model_output, bp_tensors = transformer(wordpieces, is_train)
    output = SplitBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )

    def backprop(d_output) -> List[Doc]:  # a FullTransformerBatch of gradients
        bp_tensors(d_output.model_output)
        return docs

    return output, backprop
