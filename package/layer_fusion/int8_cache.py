"""Quantize once per machine: a cache of the int8 ONNX encoders that ``--int8`` builds.

Exporting multilingual-e5-small's encoder to ONNX and quantizing it at load makes
``layer-fusion tag`` on 200 lines slower and its peak memory higher than loading the kept
result (``reports/bench/inference.md``, the two int8 rows of its memory table). The result
is a function of:

- the encoder's weights, except the word embeddings (they stay in torch), and its config;
- the fp32-kept nodes (``keep_ffn_out``) and ``reduce_range`` (7-bit weights where the
  CPU lacks VNNI, so an entry is per CPU kind);
- the versions of torch (the exporter), onnx, onnxruntime (the quantizer) and
  spacy-layer-fusion.

``encoder_key`` hashes all of them with SHA-256. An entry is two files in the cache
folder: ``<key>.onnx``, then ``<key>.json`` (what the build found, and the SHA-256 of the
ONNX bytes). Each is written atomically and the JSON last, so an entry whose JSON exists
is complete. Processes that miss at once (``--n-process``, Ray actors) each build, and
write the same bytes.

Folder: ``$LAYER_FUSION_INT8_CACHE``, else ``$XDG_CACHE_HOME/layer-fusion/int8``, else
``~/.cache/layer-fusion/int8``. ``LAYER_FUSION_INT8_CACHE=off`` turns the cache off. An
entry whose bytes fail the checksum is rebuilt and replaced; a folder that cannot be
written gives one warning, and the build is used as is. The session loads a cached model
from its file, so the model's bytes do not stay in the process (44 MB for
multilingual-e5-small); do not delete the folder while a pipeline that uses it is tagging.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

from .atomic_write import write_bytes_atomic, write_text_atomic
from .provenance import sha256

ENV = "LAYER_FUSION_INT8_CACHE"
OFF = ("off", "0", "false", "no")
# Bumped whenever the export or quantization code, an entry's layout or what goes into the
# key changes: the package version alone does not move between releases.
FORMAT = 1

Built = Tuple[bytes, Dict[str, Any]]


def cache_folder() -> Optional[Path]:
    """The folder entries live in, or None when the cache is off."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in OFF or not value.strip() else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layer-fusion" / "int8"


def _versions() -> Dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    from . import __version__

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "spacy-layer-fusion": __version__}


def encoder_key(model, keep_ffn_out: bool, reduce_range: bool) -> str:
    """SHA-256 (hex) of everything the int8 export of ``model`` (a Hugging Face encoder)
    depends on. Hashing reads the weights once: about 85 MB for multilingual-e5-small
    without its word embeddings, a fraction of a second."""
    import torch

    digest = hashlib.sha256()
    # Not where it was loaded from: a lean pipeline's config passes through a temporary folder.
    config = {k: v for k, v in model.config.to_dict().items() if k != "_name_or_path"}
    settings = {"format": FORMAT, "keep_ffn_out": keep_ffn_out, "reduce_range": reduce_range,
                "versions": _versions(), "config": config}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    table = getattr(model.get_input_embeddings(), "weight", None)  # none: read from the file (file_rows)
    for name, tensor in sorted(model.state_dict().items()):
        if table is not None and tensor.data_ptr() == table.data_ptr():
            continue
        digest.update(f"\n{name} {tensor.dtype} {tuple(tensor.shape)}\n".encode("utf-8"))
        # Raw bytes in any dtype (numpy has no bfloat16).
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def load(folder: Path, key: str) -> Optional[Tuple[Path, Dict[str, Any]]]:
    """The ONNX file of entry ``key`` in ``folder`` and what its build found, or None when
    the entry is missing, unreadable or fails its checksum."""
    onnx_path = folder / f"{key}.onnx"
    try:
        info = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        digest = sha256(onnx_path)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("build"), dict) or digest != info.get("onnx_sha256"):
        return None
    return onnx_path, info["build"]


def store(folder: Path, key: str, built: Built) -> Path:
    """Write ``built`` as the entry ``key``: the ONNX file first, then the JSON. Returns the
    ONNX file's path."""
    onnx_bytes, build = built
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / f"{key}.onnx", onnx_bytes)
    info = {"onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(), "build": build}
    write_text_atomic(folder / f"{key}.json", json.dumps(info, indent=1) + "\n")
    return folder / f"{key}.onnx"


def cached_build(model, keep_ffn_out: bool, reduce_range: bool, build: Callable[[], Built],
                 folder: Optional[Path] = None) -> Tuple[Union[bytes, Path], Dict[str, Any], str]:
    """``build()``'s result for ``model``, from the cache when it holds it. Returns
    ``(onnx_model, build_info, status)``: ``onnx_model`` is the cache entry's path where
    there is one (so the model's bytes need not stay in memory), else the built bytes;
    status is one of ``"hit"``, ``"stored"``, ``"off"`` and ``"not stored"`` (the folder
    could not be written)."""
    folder = cache_folder() if folder is None else folder
    if folder is None:
        return (*build(), "off")
    key = encoder_key(model, keep_ffn_out, reduce_range)
    found = load(folder, key)
    if found is not None:
        return (*found, "hit")
    onnx_bytes, info = build()
    try:
        path = store(folder, key, (onnx_bytes, info))
    except OSError as err:
        warnings.warn(f"int8 cache {folder}: not written ({err}); set {ENV}=off to stop trying", stacklevel=2)
        return onnx_bytes, info, "not stored"
    return path, info, "stored"
