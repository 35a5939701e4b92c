"""A batch whose encoder output holds only the windows' real wordpieces, row after row.

A doc over the component's bound (``nlp(text)`` on a long text) runs through the encoder in
passes (``inference_passes.py``). Its windows are its sentences, and the stock layout pads
every one to the widest: 13,180 words of English-EWT are 642 windows padded to 286 pieces,
11% of them real. Packed, each hidden state is (1, N, H), N the number of real pieces:

    packed[0, start_r + j] = padded[r, j]    for j < length_r,  start_r = sum of length_m, m < r

and an alignment index ``r * W + j`` into the flattened padded (rows, W) array becomes
``start_r + j``, so a listener that gathers a token's pieces from the flattened state
(ours, or stock ``trfs2arrays``) reads the same values.

``PackedBatch`` is the batch around such an output: ``model_output`` and ``align`` packed,
``wordpieces`` the padded batch as the tokenizer gave it (its width is what
``_warn_if_truncated`` checks against the encoder's limit). ``split_by_doc`` gives each doc a
``TransformerData`` packed the same way: states (1, N_doc, H), ``pooler_output``
(windows, H), and wordpieces one row of the doc's real pieces.

It is built only where nothing else reads the batch's layout: inference, by the
``fusion_transformer`` component, when its listeners say which hidden states they read and
it has no annotation setter of its own (``FusionTransformer.predict``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy
from spacy_transformers.data_classes import TransformerData, WordpieceBatch
from thinc.types import Ragged
from transformers.file_utils import ModelOutput

from .doc_split import SplitBatch, _as_arrays, doc_offsets


@dataclass
class PackedBatch(SplitBatch):
    """``FullTransformerBatch`` with a packed ``model_output`` and ``align`` (module
    docstring); ``row_lengths``: the real pieces of each row of ``wordpieces``."""

    row_lengths: Optional[List[int]] = None

    @classmethod
    def around(cls, spans, wordpieces: WordpieceBatch, model_output, align: Ragged,
               row_lengths: List[int]) -> "PackedBatch":
        """The batch around a packed ``model_output``, ``align`` given in the padded layout."""
        starts = _starts(row_lengths)
        width = wordpieces.input_ids.shape[1]
        # dataXd: the indices, (n,); Ragged.data is always 2-D, (n, 1), which a Ragged built
        # from it keeps, and a gather with (n, 1) indices gives (n, 1, H).
        data = numpy.asarray(align.dataXd).reshape(-1)
        packed = Ragged((starts[data // width] + data % width).astype(data.dtype), align.lengths)
        return cls(spans=spans, wordpieces=wordpieces, model_output=model_output, align=packed,
                   row_lengths=list(row_lengths))

    def split_by_doc(self) -> List[TransformerData]:
        offsets = doc_offsets(span for doc_spans in self.spans for span in doc_spans)
        arrays = _as_arrays(self.model_output)
        starts = _starts(self.row_lengths)
        outputs: List[TransformerData] = []
        start = 0  # first window (row of the wordpiece batch) of the current doc
        for doc_spans in self.spans:
            if len(doc_spans) == 0 or len(doc_spans[0]) == 0:
                outputs.append(TransformerData.empty())
                continue  # as stock: the counters do not move
            first, last = doc_spans[0], doc_spans[-1]
            end = start + len(doc_spans)
            begin, stop = int(starts[start]), int(starts[end])
            align = self.align[offsets[first.doc] + first.start:offsets[last.doc] + last.end]
            align.data = align.data - begin
            model_output = ModelOutput()
            for key, value in arrays.items():
                if isinstance(value, list):
                    model_output[key] = [t[:, begin:stop] for t in value]
                else:  # a state (1, N, H), or a row's output such as pooler_output (rows, H)
                    model_output[key] = value[:, begin:stop] if value.ndim == 3 else value[start:end]
            outputs.append(TransformerData(wordpieces=_packed_wordpieces(self.wordpieces, start, end,
                                                                         self.row_lengths),
                                           model_output=model_output, align=align))
            start = end
        return outputs


def _starts(lengths: List[int]) -> numpy.ndarray:
    """start_r = sum of lengths[:r], for r = 0..len(lengths)."""
    return numpy.concatenate([[0], numpy.cumsum(lengths, dtype=numpy.int64)])


def _packed_wordpieces(wordpieces: WordpieceBatch, start: int, end: int, lengths: List[int]) -> WordpieceBatch:
    """Rows [start, end) of ``wordpieces`` as one row of their real pieces."""
    rows = range(start, end)

    def joined(array):
        return numpy.concatenate([array[r, :lengths[r]] for r in rows])[None]

    strings = [piece for r in rows for piece in wordpieces.strings[r][:lengths[r]]]
    return WordpieceBatch(
        strings=[strings], input_ids=joined(wordpieces.input_ids), attention_mask=joined(wordpieces.attention_mask),
        lengths=[len(strings)],
        token_type_ids=joined(wordpieces.token_type_ids) if wordpieces.token_type_ids is not None else None)
