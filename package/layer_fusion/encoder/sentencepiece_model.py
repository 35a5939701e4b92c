"""Rebuild XLM-R's ``sentencepiece.bpe.model`` from a HF ``tokenizer.json``.

spacy-transformers 1.4.0 opens ``tokenizer.vocab_file`` when it loads and serializes a
pipeline, so an XLM-R folder with only ``tokenizer.json`` cannot be used. HF's
``XLMRobertaConverter`` made ``tokenizer.json`` from the SentencePiece model by a fixed
mapping, which this module inverts:

    tokenizer.json (HF / fairseq ids)        sentencepiece model (spm ids)
    0 <s>, 1 <pad>, 2 </s>, 3 <unk>          0 <unk> (UNKNOWN), 1 <s>, 2 </s> (CONTROL)
    4 .. N-2  normal pieces                  3 .. N-3  (hf_id = spm_id + 1, "fairseq_offset")
    N-1 <mask> (added token)                 not in the model; slow tokenizer adds it at len(spm) + 1

Scores are copied unchanged; ``<pad>`` has no SentencePiece counterpart (pad_id = -1).
The normalizer is the same ``nmt_nfkc`` Precompiled charsmap (base64 in tokenizer.json),
with SentencePiece's dummy prefix, whitespace collapsing and escaping switched on, which is
what the Metaspace pre-tokenizer and the ``' {2,}' -> ' '`` Replace do on the HF side.
"""
from __future__ import annotations

import base64
from typing import Any, Dict, List

HF_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"


class TokenizerJsonError(ValueError):
    """tokenizer.json is not the XLM-R Unigram tokenizer this converter understands."""


def precompiled_charsmap(tokenizer: Dict[str, Any]) -> bytes:
    """The normalizer's Precompiled charsmap, decoded from base64."""
    normalizer = tokenizer.get("normalizer") or {}
    stack = [normalizer]
    while stack:
        node = stack.pop()
        if node.get("type") == "Precompiled":
            return base64.b64decode(node["precompiled_charsmap"])
        stack.extend(node.get("normalizers") or [])
    raise TokenizerJsonError("tokenizer.json has no Precompiled normalizer")


def xlmr_vocab(tokenizer: Dict[str, Any]) -> List[List[Any]]:
    """The Unigram vocab as [piece, score] pairs, after checking the XLM-R special layout."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "Unigram":
        raise TokenizerJsonError(f"tokenizer.json model type is {model.get('type')!r}, expected Unigram")
    vocab = model["vocab"]
    if [p for p, _ in vocab[:4]] != HF_SPECIALS or vocab[-1][0] != MASK or model.get("unk_id") != 3:
        raise TokenizerJsonError("tokenizer.json does not have XLM-R's <s> <pad> </s> <unk> ... <mask> layout")
    return vocab


def sentencepiece_model_bytes(tokenizer: Dict[str, Any]) -> bytes:
    """Serialized ``ModelProto`` for the XLM-R slow tokenizer (N-2 pieces for an N-id vocab)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    vocab = xlmr_vocab(tokenizer)
    Piece = pb.ModelProto.SentencePiece
    proto = pb.ModelProto()
    for piece, ptype in (("<unk>", Piece.UNKNOWN), ("<s>", Piece.CONTROL), ("</s>", Piece.CONTROL)):
        proto.pieces.add(piece=piece, score=0.0, type=ptype)
    for piece, score in vocab[4:-1]:
        proto.pieces.add(piece=piece, score=float(score), type=Piece.NORMAL)

    spec = proto.trainer_spec
    spec.model_type = pb.TrainerSpec.UNIGRAM
    spec.vocab_size = len(proto.pieces)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    spec.unk_piece, spec.bos_piece, spec.eos_piece = "<unk>", "<s>", "</s>"
    spec.byte_fallback = False

    norm = proto.normalizer_spec
    norm.name = "nmt_nfkc"
    norm.precompiled_charsmap = precompiled_charsmap(tokenizer)
    norm.add_dummy_prefix = True
    norm.remove_extra_whitespaces = True
    norm.escape_whitespaces = True
    return proto.SerializeToString()


def spm_to_hf_id(spm_id: int) -> int:
    """Map a SentencePiece id to the HF/fairseq id (the slow tokenizer's rule)."""
    return {0: 3, 1: 0, 2: 2}.get(spm_id, spm_id + 1)
