"""Cache of token-level hidden states for frozen-encoder sweeps.

With the encoder frozen, every training epoch and every variant of a sweep would
recompute the same transformer forward pass. Here it runs once per split: each
sentence's words go through the spaCy transformer component and through the same
alignment and wordpiece pooling that ``FusionListener`` uses (``layer_pooling``),
for ALL hidden states, and the result is stored as

    features.npy   float16 (n_tokens, n_hidden_states, H)   memory-mapped
    offsets.npy    int64   (n_sentences + 1,)               sentence i = rows offsets[i]:offsets[i+1]
    labels.npy     int16   (n_tokens,)                      gold UPOS index into UPOS_TAGS
    meta.json      encoder, source file, counts, genres, seconds, and ``made_from``

``made_from`` (``cache_inputs``) records what the features depend on: the sha256 of the
encoder folder's files (or its hub name), of the CoNLL-U file, and the window and stride of
the spans. A complete cache is reused only when it was made from the inputs asked for now, so
a new encoder or a changed file is cached again instead of being read from the old cache.

fp16 halves the disk and page-cache footprint (about 2 GB for EWT train with
multilingual-e5-small); the heads trained on it are checked against the spaCy
path (``head_export``). A cache folder is written under a temporary name and
renamed when complete, so an interrupted run leaves nothing that looks finished.
"""
import errno
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy
from thinc.api import reduce_mean

from ..atomic_write import atomic_folder
from ..conllu import Sentence
from .fusion_head import UPOS_TAGS
from ..layers.layer_pooling import layer_pooling
from ..provenance import sha256

UPOS_INDEX = {tag: i for i, tag in enumerate(UPOS_TAGS)}
WINDOW, STRIDE = 128, 96  # the pipelines' strided spans (spaCy tokens per window, step)


@dataclass
class HiddenStateCache:
    """A loaded cache (arrays are memory-mapped, read-only)."""

    path: Path
    features: numpy.ndarray  # (n_tokens, n_hidden_states, H) float16
    offsets: numpy.ndarray  # (n_sentences + 1,)
    labels: numpy.ndarray  # (n_tokens,)
    meta: dict

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_hidden_states(self) -> int:
        return int(self.features.shape[1])

    @property
    def width(self) -> int:
        return int(self.features.shape[2])

    def sentence_lengths(self) -> numpy.ndarray:
        return numpy.diff(self.offsets)


def is_complete(path: Path) -> bool:
    return (Path(path) / "meta.json").is_file()


def cache_inputs(encoder: Union[str, Path], source: Union[str, Path], window: int = WINDOW,
                 stride: int = STRIDE) -> Dict[str, str]:
    """What a cache of ``source`` (a CoNLL-U file) encoded by ``encoder`` is made from:
    the sha256 of the encoder folder's files (weights, config, tokenizer: a tokenizer
    trained on other text changes the features, the weights alike), of its
    ``model.safetensors`` alone (what metrics' provenance records), of the CoNLL-U file,
    and the span settings. A hub name stands for itself."""
    from .run_records import file_sha256, folder_sha256

    folder = Path(encoder)
    if folder.is_dir():
        inputs = {"encoder_files_sha256": folder_sha256(folder)}
        if (folder / "model.safetensors").is_file():
            inputs["encoder_sha256"] = file_sha256(folder / "model.safetensors")
    else:
        inputs = {"encoder": str(encoder)}
    inputs["source_sha256"] = sha256(source)
    inputs["spans"] = spans_record(window, stride)
    return inputs


def spans_record(window, stride) -> str:
    """How a cache's meta.json records the spans its hidden states were computed in."""
    return f"strided_spans window={window} stride={stride}"


def cache_change(path: Union[str, Path], inputs: Dict[str, str]) -> Optional[str]:
    """Why the complete cache at ``path`` is not one of ``inputs``, or None when it is.
    A cache without a record (made before caches recorded their inputs) is not one."""
    try:
        meta = json.loads((Path(path) / "meta.json").read_text(encoding="utf8"))
    except (ValueError, OSError):
        return "inputs it does not record (its meta.json cannot be read)"
    recorded = meta.get("made_from") if isinstance(meta, dict) else None
    if not isinstance(recorded, dict):
        return "inputs it does not record (a cache of an older version)"
    changed = sorted(k for k in set(recorded) | set(inputs) if recorded.get(k) != inputs.get(k))
    names = {"encoder_files_sha256": "encoder files", "encoder_sha256": "encoder weights", "encoder": "encoder",
             "source_sha256": "CoNLL-U file", "spans": "span settings"}
    return ("other " + ", ".join(names.get(k, k) for k in changed)) if changed else None


def cache_digest(cache: "HiddenStateCache") -> str:
    """One string for what ``cache`` was made from, for the records of runs that read it
    ("unrecorded" for a cache made before caches recorded their inputs)."""
    made_from = cache.meta.get("made_from")
    if made_from is None:
        return "unrecorded"
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode("utf8")).hexdigest()


def load_cache(path: Union[str, Path]) -> HiddenStateCache:
    path = Path(path)
    if not is_complete(path):
        raise FileNotFoundError(f"{path}: no complete hidden-state cache (meta.json missing)")
    meta = json.loads((path / "meta.json").read_text(encoding="utf8"))
    if not isinstance(meta, dict):
        raise ValueError(f"{path / 'meta.json'}: not a JSON object")
    for name in ("features.npy", "offsets.npy", "labels.npy"):
        if not (path / name).is_file():  # not FileNotFoundError: the cache is there, but damaged
            raise ValueError(f"{path}: {name} missing")
    cache = HiddenStateCache(
        path=path,
        features=numpy.load(path / "features.npy", mmap_mode="r"),
        offsets=numpy.load(path / "offsets.npy"),
        labels=numpy.load(path / "labels.npy"),
        meta=meta,
    )
    check_consistent(cache)
    return cache


def check_consistent(cache: HiddenStateCache) -> None:
    """Raise ValueError naming the file unless the arrays agree: offsets (n + 1,) start at 0,
    never decrease and end at the features' and labels' length (one row per token)."""
    offsets, n_rows = cache.offsets, cache.features.shape[0]
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or (numpy.diff(offsets) < 0).any():
        raise ValueError(f"{cache.path / 'offsets.npy'}: not sentence offsets (0, then never decreasing)")
    if offsets[-1] != n_rows or len(cache.labels) != n_rows:
        raise ValueError(f"{cache.path}: offsets.npy ends at {int(offsets[-1])}, but features.npy has {n_rows} "
                         f"token rows and labels.npy {len(cache.labels)}")


def transformer_pipe(encoder: Union[str, Path], window: int = WINDOW, stride: int = STRIDE):
    """A spaCy Transformer component on ``encoder`` that outputs all hidden states."""
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "layer_fusion.TransformerModel.v1", "name": str(encoder),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1",
                      "window": window, "stride": stride},
        "tokenizer_config": {"use_fast": True}}})
    nlp.initialize()
    return nlp.get_pipe("transformer")


def reserve_disk_space(path: Path, output: Path) -> None:
    """Allocate the blocks of ``path`` (a sparse memory-mapped file) now. A write into a
    memory map past the end of the disk is a SIGBUS that kills the process without a word;
    this raises OSError naming the size and the cache instead. Filesystems that cannot
    allocate ahead (EOPNOTSUPP, EINVAL) are left as they are."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return
        raise OSError(err.errno, f"{err.strerror} (the features take {size / 2 ** 30:.2f} GiB)") from None
    finally:
        os.close(fd)


def build_cache(
    transformer_pipe,
    sentences: Sequence[Sentence],
    output: Union[str, Path],
    batch_size: int = 64,
    source: str = "",
    progress: bool = True,
    made_from: Optional[Dict[str, str]] = None,
) -> HiddenStateCache:
    """Run ``transformer_pipe`` (a spaCy ``Transformer`` component whose model outputs
    all hidden states) over ``sentences`` and store every token's pooled hidden states.

    Sentences are processed in order of length (little padding) and written to their
    own rows. Returns the loaded cache. A complete cache at ``output`` is reused when
    ``made_from`` (``cache_inputs``, recorded in meta.json) is None or equals its record and
    it can be read; otherwise it is replaced.
    """
    from tqdm import tqdm

    output = Path(output)
    if is_complete(output) and (made_from is None or cache_change(output, made_from) is None):
        try:
            return load_cache(output)
        except (ValueError, OSError):  # damaged (a member missing or cut short): built again
            pass
    start = time.perf_counter()
    vocab = transformer_pipe.vocab
    lengths = numpy.array([len(s.words) for s in sentences], dtype=numpy.int64)
    offsets = numpy.zeros(len(sentences) + 1, dtype=numpy.int64)
    numpy.cumsum(lengths, out=offsets[1:])
    width = transformer_pipe.model.get_dim("nO")
    n_states = transformer_pipe.model.transformer.config.num_hidden_layers + 1
    with atomic_folder(output) as tmp:
        features = numpy.lib.format.open_memmap(
            tmp / "features.npy", mode="w+", dtype=numpy.float16,
            shape=(int(offsets[-1]), n_states, width),
        )
        reserve_disk_space(tmp / "features.npy", output)
        labels = numpy.array([UPOS_INDEX[t] for s in sentences for t in s.upos], dtype=numpy.int16)
        pool = layer_pooling(list(range(n_states)), width, reduce_mean(), grad_factor=1.0)
        order = sorted(range(len(sentences)), key=lambda i: lengths[i])
        bar = tqdm(total=len(sentences), desc=f"caching {output.name}", unit="sent", disable=not progress)
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            docs = [sentences[i].to_doc(vocab) for i in idx]
            docs = list(transformer_pipe.pipe(docs, batch_size=len(docs)))
            pooled = pool.predict([doc._.trf_data for doc in docs])
            for i, doc, x in zip(idx, docs, pooled):
                features[offsets[i] : offsets[i + 1]] = x
                doc._.trf_data = None
            bar.update(len(idx))
        bar.close()
        features.flush()
        del features
        numpy.save(tmp / "offsets.npy", offsets)
        numpy.save(tmp / "labels.npy", labels)
        meta = {
            "source": source,
            "encoder": str(transformer_pipe.model.attrs.get("name", "")),
            "sentences": len(sentences),
            "tokens": int(offsets[-1]),
            "hidden_states": n_states,
            "width": width,
            "dtype": "float16",
            "pooling": "reduce_mean over aligned wordpieces (as FusionListener)",
            "sent_ids": [s.sent_id for s in sentences],
            "genres": [s.genre for s in sentences],
            "seconds": round(time.perf_counter() - start, 2),
        }
        if made_from is not None:
            meta["made_from"] = made_from
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf8")
    return load_cache(output)
