"""The ``fusion_transformer`` pipeline component: spacy-transformers' ``Transformer``, saved
so that loading holds one copy of the weights, and batched by wordpieces.

Stock ``Transformer.from_disk`` reads the whole ``model`` file (the weights inside a msgpack
inside a msgpack), unpacks it twice, builds a randomly initialised encoder and copies the
saved state into it: four or five copies of the weights at the peak (about 3 GB for the
470 MB multilingual-e5-small). Here ``to_disk`` writes the component folder as

    model               thinc bytes of the model with the encoder's weights left out
    hf/                 the encoder's config.json and tokenizer files
    model.safetensors   the encoder's weights

and ``from_disk`` builds the encoder with its parameters on the meta device (no memory),
memory-maps the safetensors file and assigns its tensors to the parameters: the weights
are in memory once, as file-backed pages. A folder without ``model.safetensors`` (saved by
the stock component) loads the stock way, and ``to_bytes`` / ``from_bytes`` are stock (but
for a compact tokenizer, saved as the fast one: ``to_bytes``).

``pipe`` cuts each batch so that no forward pass of several docs exceeds ``max_batch_items``
padded wordpieces (stock counts spaCy tokens; ``FusionTransformer.pipe`` says why), counting a
row per encoder window (``get_spans``): a sentence's with windows inside sentences, each strided
window of a long doc. A doc whose own windows exceed the bound (``nlp(text)`` on a long text)
goes through the encoder in passes of whole windows within the bound, which keep only the
hidden states the listeners read (``predict``; ``layers/inference_passes.py``).
``layer_fusion.tagging.LineTagger`` (``layer-fusion tag``) cuts such a doc before it gets
here, so that its docs stay small.

A window (``get_spans``) of more wordpieces than the encoder takes (512) is cut by
spacy-transformers; tokens that no window then gives a wordpiece get no features, and
``set_annotations`` warns (``WordpieceTruncationWarning``). ``layer_fusion.tagging.LineTagger`` (``layer-fusion tag``)
cuts such text into chunks that fit before tagging it.
"""
from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy
import srsly
import torch
from spacy import util
from spacy.language import Language
from spacy.pipeline.pipe import deserialize_config
from spacy.tokens import Doc
from spacy.util import minibatch
from spacy_transformers.annotation_setters import null_annotation_setter
from spacy_transformers.data_classes import FullTransformerBatch, HFObjects
from spacy_transformers.pipeline_component import DEFAULT_CONFIG, DOC_EXT_ATTR, Transformer, install_extensions
from thinc.api import Model

from .atomic_write import atomic_output
from .compact_tokenizer import is_compact, load_compact
from .file_rows import remember
from .layers.inference_passes import PASSES, PassSettings
from .length_order import padded_batches, wordpiece_lengths

WEIGHTS = "model.safetensors"
HF_DIR = "hf"


class WordpieceTruncationWarning(UserWarning):
    """A window had more wordpieces than the encoder takes, and tokens past the cut got no features."""


@Language.factory(
    "fusion_transformer",
    assigns=[f"doc._.{DOC_EXT_ATTR}"],
    default_config={**DEFAULT_CONFIG["transformer"], "compact_tokenizer": True},
)
def make_fusion_transformer(
    nlp: Language,
    name: str,
    model: Model[List[Doc], FullTransformerBatch],
    set_extra_annotations: Callable[[List[Doc], FullTransformerBatch], None],
    max_batch_items: int,
    compact_tokenizer: bool = True,
) -> "FusionTransformer":
    """The ``transformer`` component (same settings) with one-copy loading (module docstring).

    compact_tokenizer: when loading a saved pipeline whose encoder has an XLM-R SentencePiece
        tokenizer and whose model tokenizes pre-split words (``split_words``), load the
        tokenizer on the SentencePiece library instead of the fast (Rust) one: a fraction of
        its memory (``reports/bench/compact_tokenizer.md``), same wordpieces but for ties
        (``compact_tokenizer.py``)."""
    if isinstance(max_batch_items, bool) or not isinstance(max_batch_items, int) or max_batch_items < 1:
        # 0 or less made every doc a batch of its own, silently
        raise ValueError(f"max_batch_items={max_batch_items!r} must be an integer >= 1 (padded wordpieces "
                         "per forward pass)")
    component = FusionTransformer(nlp.vocab, model, set_extra_annotations, max_batch_items=max_batch_items, name=name)
    component.compact_tokenizer = compact_tokenizer
    return component


class FusionTransformer(Transformer):
    # Set by the factory; not in ``cfg``, which the saved pipeline's cfg file would override.
    compact_tokenizer: bool = True

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """As stock, but each batch is cut by padded *wordpieces*: no forward pass of several
        docs gets more than ``max_batch_items`` positions, (its windows) x (the most
        wordpieces of a window in it), special tokens included (``length_order.padded_batches``);
        a doc over the bound alone is a pass of its own. The windows are the component's
        ``get_spans``: a doc of several sentences gives a row per sentence with
        ``sentence_strided_spans``, a long doc several with ``strided_spans``. Stock cuts by
        spaCy tokens, so a line of a few tokens and hundreds of wordpieces pads a whole batch
        to its length, which costs time and, on a CPU, a spike of memory."""
        install_extensions()
        tokenizer = self.model.tokenizer if self.model.attrs.get("has_transformer") else None
        specials = tokenizer.num_special_tokens_to_add(pair=False) if tokenizer is not None else 0
        get_spans = self.model.attrs.get("get_spans")
        for outer_batch in minibatch(stream, batch_size):
            outer_batch = list(outer_batch)
            windows = get_spans(outer_batch) if get_spans is not None else [[doc[:]] for doc in outer_batch]
            counts = iter(wordpiece_lengths(tokenizer, [[t.text for t in span] for spans in windows for span in spans]))
            widest = [max((next(counts) for _ in spans), default=0) + specials for spans in windows]
            rows = [max(1, len(spans)) for spans in windows]
            for indices in padded_batches(widest, self.cfg["max_batch_items"], rows):
                subbatch = [outer_batch[i] for i in indices]
                self.set_annotations(subbatch, self.predict(subbatch))
            yield from outer_batch

    def predict(self, docs: Iterable[Doc]) -> FullTransformerBatch:
        """Stock, but a batch over ``max_batch_items`` padded wordpieces (one doc whose own
        windows exceed it, as ``nlp(text)`` on a long text gives) runs through the encoder in
        passes within the bound, keeping only the hidden states the listeners read
        (``layers/inference_passes.py``): the others are empty. With this project's forward
        passes (``split_words``, as shipped, or ``trim_offsets``) those states are packed, the
        windows' real pieces row after row, (1, N, H) (``layers/packed_batch.py``); with the
        stock one padded, (rows, W, H), the others (rows, 0, H). All are kept, padded, when the component has an annotation
        setter of its own (``set_extra_annotations``), which may read any. The settings hold
        for the call's length, in its thread (``PASSES``): a direct ``model.predict`` is stock."""
        custom_setter = self.set_extra_annotations is not null_annotation_setter
        token = PASSES.set(PassSettings(self.cfg["max_batch_items"], None if custom_setter else self.hidden_states_read()))
        try:
            return super().predict(docs)
        finally:
            PASSES.reset(token)

    def set_annotations(self, docs: Iterable[Doc], predictions: FullTransformerBatch) -> None:
        """As stock, but each doc keeps only the hidden states its listeners read.

        A doc's ``trf_data`` lives until the last component is done with its batch; all 13
        hidden states of every doc in a batch of 64 long lines cost hundreds of MiB, the
        two a ``[4, -1]`` fusion reads about a sixth of that. The others become empty arrays (the
        list keeps its length, so negative indices still resolve). Kept whole when some
        listener does not say what it reads (``attrs["hidden_states"]``), or when no
        listener is attached (then users read ``doc._.trf_data`` themselves). A disabled
        component's listener stays attached (spaCy does not tell the transformer), so to
        read every hidden state, load without it: ``spacy.load(name, exclude=[...])``."""
        docs = list(docs)  # read twice below
        _warn_if_truncated(self.model, docs, predictions)
        super().set_annotations(docs, predictions)
        needed = self.hidden_states_read()
        if needed is None:
            return
        for doc in docs:
            hidden = doc._.trf_data.model_output.get("hidden_states")
            if not hidden:
                continue
            keep = {i % len(hidden) for i in needed if -len(hidden) <= i < len(hidden)}
            # A copy, not a view: a view of the batch's array would keep all of it alive.
            doc._.trf_data.model_output["hidden_states"] = [
                h if i in keep else h[:0].copy() for i, h in enumerate(hidden)]

    def hidden_states_read(self) -> Optional[List[int]]:
        """The hidden states (indices as configured) that this component's listeners read,
        or None when that is not known: no listener, or one that does not say."""
        listeners = self.listeners
        if not listeners or any("hidden_states" not in listener.attrs for listener in listeners):
            return None
        return sorted({i for listener in listeners for i in listener.attrs["hidden_states"]})

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Stock, except that a compact tokenizer is saved as the fast one it stands in for:
        stock ``HFShim.to_bytes`` records ``use_fast`` from ``tokenizer.is_fast``, and
        ``from_bytes`` would otherwise build the slow tokenizer, which has no word ids. (The
        compact tokenizer's saved files are the fast tokenizer's.)"""
        shim = _hf_shim(self.model)
        hf = shim._hfmodel
        if hf is None or not is_compact(hf.tokenizer):
            return super().to_bytes(exclude=exclude)
        shim._hfmodel = HFObjects(_SavedAsFast(hf.tokenizer), hf.transformer, hf.vocab_file_contents,
                                  hf._init_tokenizer_config, hf._init_transformer_config)
        try:
            return super().to_bytes(exclude=exclude)
        finally:
            shim._hfmodel = hf

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        path = Path(path)
        if not self.model.attrs.get("has_transformer"):
            return super().to_disk(path, exclude=exclude)
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "vocab": lambda p: self.vocab.to_disk(p),
            "model": lambda p: save_lean(self.model, p),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "FusionTransformer":
        path = Path(path)
        if not (path / WEIGHTS).is_file():
            if (path / HF_DIR / "config.json").is_file():  # saved by to_disk, its weights file lost
                raise FileNotFoundError(f"{path / WEIGHTS}: missing; the rest of the component ({path}) was saved "
                                        "without its encoder's weights, which are in that file: copy it again")
            return super().from_disk(path, exclude=exclude)
        deserialize = {
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "cfg": lambda p: self.cfg.update(deserialize_config(p)),
            "model": lambda p: load_lean(self.model, p, compact_tokenizer=self.compact_tokenizer),
        }
        util.from_disk(path, deserialize, exclude)
        return self


class _SavedAsFast:
    """The compact tokenizer as stock ``HFShim.to_bytes`` sees it: ``is_fast``, the rest its own."""

    is_fast = True

    def __init__(self, tokenizer):
        object.__setattr__(self, "_tokenizer", tokenizer)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    def __setattr__(self, name, value):
        setattr(self._tokenizer, name, value)


# safetensors dtype names -> numpy dtypes (little-endian, as the format stores them).
_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                 "I8": "i1", "U8": "u1", "BOOL": "?"}


def _warn_if_truncated(model: Model, docs: List[Doc], predictions: FullTransformerBatch) -> None:
    """Warn when tokens got no wordpiece at all because spacy-transformers cut a window at
    the tokenizer's ``model_max_length`` (``truncate_oversize_splits``): the batch is that
    wide, and a token (not a space) of some doc has no wordpiece in any of its windows (a
    token cut from one window but inside the next, overlapping one keeps its features).
    A doc of one token keeps that token's first wordpieces: ``LineTagger`` tags a token too
    long for the encoder so, alone, without a warning."""
    tokenizer = model.tokenizer if model.attrs.get("has_transformer") else None
    limit = getattr(tokenizer, "model_max_length", None)
    input_ids = getattr(predictions.wordpieces, "input_ids", None)
    if not limit or input_ids is None or input_ids.shape[1] < limit:
        return
    lengths = predictions.align.lengths  # one row per token of the docs, in order
    offset = 0
    for doc in docs:
        if any(lengths[offset + i] == 0 and not token.is_space for i, token in enumerate(doc)):
            warnings.warn(
                f"some tokens got no encoder features, since a window of more than {limit} wordpieces was cut: "
                "their tags are unreliable (long URLs, codes, words of rare scripts...). Tag such text with "
                "layer_fusion.tagging.LineTagger or `layer-fusion tag`, which cut it into chunks that fit",
                WordpieceTruncationWarning, stacklevel=2)
            return
        offset += len(doc)


def map_tensors(path: Path) -> Optional[Dict[str, torch.Tensor]]:
    """Every tensor of the safetensors file ``path``, each memory-mapped on its own,
    copy-on-write (a write stays in this process; the file is never changed); None if a
    tensor has a dtype numpy cannot map (bfloat16).

    Why one mapping per tensor: the resident pages of a mapping stay until the mapping goes,
    and ``safetensors.torch.load_file`` maps the whole file once, so a tensor that lives on
    (the word embeddings, which int8 keeps in torch) keeps every page read so far of every
    other tensor resident (the encoder layers, after the int8 export reads them). Here a
    tensor that is dropped unmaps its own pages. Each map is recorded (``file_rows.remember``),
    so tagging can read word-embedding rows from the file instead (``file_rows.FileRows``)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (header_size,) = struct.unpack("<Q", f.read(8))
            if header_size > size - 8:  # a git-LFS pointer, say, read as a header size
                raise ValueError(f"a header of {header_size} bytes in a file of {size}")
            header = json.loads(f.read(header_size))
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a safetensors file ({err})") from None
    header.pop("__metadata__", None)
    needed = 8 + header_size + max((info["data_offsets"][1] for info in header.values()), default=0)
    if needed > size:
        raise ValueError(f"{path}: truncated: {size} bytes, its header describes {needed} (copy it again)")
    if any(info["dtype"] not in _NUMPY_DTYPES for info in header.values()):
        return None
    state = {}
    for name, info in header.items():
        shape = tuple(info["shape"])
        start, end = info["data_offsets"]
        if end == start:  # an empty tensor: nothing to map
            array = numpy.zeros(shape, dtype=_NUMPY_DTYPES[info["dtype"]])
        else:
            offset = 8 + header_size + start
            array = numpy.memmap(path, dtype=_NUMPY_DTYPES[info["dtype"]], mode="c", offset=offset, shape=shape)
            remember(array, path, offset)
        state[name] = torch.from_numpy(array)
    return state


def _hf_shim(model: Model):
    return model.layers[0].shims[0]


def save_lean(model: Model, path: Path) -> None:
    """Write ``path`` (the model without the encoder's weights), ``hf/`` and the weights."""
    shim = _hf_shim(model)
    folder = path.parent
    hf = shim._hfmodel
    hf_dir = folder / HF_DIR
    hf_dir.mkdir(parents=True, exist_ok=True)
    hf.transformer.config.save_pretrained(hf_dir)
    vocab_name = getattr(hf.tokenizer, "vocab_files_names", {}).get("vocab_file")
    if hf.vocab_file_contents is not None and vocab_name:
        # As the stock shim does: the slow tokenizer's vocabulary (XLM-R's
        # sentencepiece.bpe.model), which stock to_bytes needs again later.
        (hf_dir / vocab_name).write_bytes(hf.vocab_file_contents)
        hf.tokenizer.vocab_file = str(hf_dir / vocab_name)
    hf.tokenizer.save_pretrained(hf_dir)
    # The compact tokenizer writes back the fast tokenizer's files, to be loaded as they were.
    use_fast = bool(hf.tokenizer.is_fast) or is_compact(hf.tokenizer)
    srsly.write_json(hf_dir / "tokenizer_kwargs.json", {"use_fast": use_fast})
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in hf.transformer.state_dict().items()}
    with atomic_output(folder / WEIGHTS, "wb") as f:
        f.write(save(state, metadata={"format": "pt"}))
    # The thinc bytes with the shim's HF objects swapped for an empty set while they are written:
    # stock HFShim.to_bytes then writes only the init configs (no weights to serialize and drop),
    # and HFShim.from_bytes builds no encoder.
    empty = HFObjects(None, None, None, hf._init_tokenizer_config, hf._init_transformer_config)
    shim._hfmodel = empty
    try:
        data = model.to_bytes()
    finally:
        shim._hfmodel = hf
    with atomic_output(path, "wb") as f:
        f.write(data)


def load_lean(model: Model, path: Path, compact_tokenizer: bool = False) -> None:
    """Inverse of ``save_lean``: the encoder built on the meta device, its weights
    memory-mapped from ``model.safetensors`` and assigned. With ``compact_tokenizer``, the
    tokenizer is ``compact_tokenizer.SentencePieceWordTokenizer`` where it can stand in."""
    from safetensors.torch import load_file
    from spacy_transformers.util import get_torch_default_device
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.integrations.accelerate import init_empty_weights

    folder = path.parent
    hf_dir = folder / HF_DIR
    model.from_bytes(path.read_bytes())
    shim = _hf_shim(model)
    init_tok = dict(shim._hfmodel._init_tokenizer_config or {})
    init_trf = dict(shim._hfmodel._init_transformer_config or {})
    tokenizer = None
    if compact_tokenizer and model.attrs.get("init_args", {}).get("split_words"):
        # Pre-split words only: the compact tokenizer has no character offsets, which the
        # other forward passes align on.
        tokenizer = load_compact(hf_dir)
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), **srsly.read_json(hf_dir / "tokenizer_kwargs.json"))
    config = AutoConfig.from_pretrained(str(hf_dir))
    # Parameters on the meta device, buffers (position ids) real: nothing to copy over later.
    with init_empty_weights(include_buffers=False):
        transformer = AutoModel.from_config(config)
    device = get_torch_default_device()
    state = map_tensors(folder / WEIGHTS)
    if state is None:  # a dtype numpy cannot map (bfloat16): one mapping of the whole file
        state = load_file(str(folder / WEIGHTS), device=str(device))
    try:
        missing, unexpected = transformer.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:  # shapes differ
        raise ValueError(f"{folder / WEIGHTS}: weights do not fit the encoder in {hf_dir}: "
                         f"{str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ValueError(f"{folder / WEIGHTS}: weights do not fit the encoder in {hf_dir} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    transformer.to(device)
    vocab_file_contents = None
    vocab_name = getattr(tokenizer, "vocab_files_names", {}).get("vocab_file")
    if vocab_name and (hf_dir / vocab_name).is_file():
        vocab_file_contents = (hf_dir / vocab_name).read_bytes()
    shim._hfmodel = HFObjects(tokenizer, transformer, vocab_file_contents, init_tok, init_trf)
    shim._model = transformer
    model.attrs["has_transformer"] = True
    model.set_dim("nO", config.hidden_size)
