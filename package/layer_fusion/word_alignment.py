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

The output is the stock ``FullTransformerBatch``: listeners, pooling and
serialization do not change. Only the forward pass differs from
``spacy_transformers.layers.transformer_model.forward``.
"""
from typing import Callable, List, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_token_positions
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged


def tokenize_words(tokenizer, spans: List[Span]):
    """Hugging Face batch encoding of each span's token texts as pre-split words,
    with the extra keys ``WordpieceBatch.from_batch_encoding`` expects."""
    words = [[token.text for token in span] for span in spans]
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
    return encoding


def word_alignment(spans: List[Span], encoding) -> Ragged:
    """Ragged over the docs' unique tokens (stock order): the indices of each token's
    wordpieces in the flattened (n_spans * max_wordpieces) array."""
    positions = get_token_positions(spans)
    aligned: List[List[int]] = [[] for _ in range(len(positions))]
    width = encoding["input_ids"].shape[1]
    for i, span in enumerate(spans):
        tokens = list(span)
        for j, w in enumerate(encoding.word_ids(i)):
            if w is not None:
                aligned[positions[tokens[w]]].append(i * width + j)
    flat = numpy.array([j for a in aligned for j in sorted(set(a))], dtype="i")
    lengths = numpy.array([len(set(a)) for a in aligned], dtype="i")
    return Ragged(flat, lengths)


def forward_split_words(model: Model, docs: List[Doc], is_train: bool) -> Tuple[FullTransformerBatch, Callable]:
    """``TransformerModel`` forward with word-level tokenization (module docstring)."""
    tokenizer = model.tokenizer
    transformer = model.layers[0]
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    encoding = tokenize_words(tokenizer, flat_spans)
    align = word_alignment(flat_spans, encoding)
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    model_output, bp_tensors = transformer(wordpieces, is_train)
    output = FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )

    def backprop(d_output: FullTransformerBatch) -> List[Doc]:
        bp_tensors(d_output.model_output)
        return docs

    return output, backprop
