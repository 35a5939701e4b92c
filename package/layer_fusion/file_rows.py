"""Look rows of a memory-mapped weight up by reading its file, so they never become resident.

int8 keeps the word embeddings in torch (``layer_fusion.onnx_encoder``): 250,002 x 384 fp32
for multilingual-e5-small, memory-mapped from ``model.safetensors``. A lookup through the
map faults in 64 KiB around each row it reads (the kernel's fault-around), about 42 rows of
384 floats for one, and the pages stay resident while the map lives: 200 English lines made
about 230 MiB of the table resident, more than the whole int8 encoder. ``FileRows`` reads
each row it needs with ``os.pread`` instead. The file's pages then sit in the page cache,
shared and reclaimable, not in the process.

That is only the same lookup when the tensor still holds the file's bytes. ``map_tensors``
(``layer_fusion.transformer_component``) records each tensor it maps (``remember``);
``file_source`` returns a tensor's file and offset only while that map is alive and no page
of it was written (copy-on-write pages show as ``Anonymous`` in ``/proc/self/smaps``; where
that file does not exist, never).

Used by int8 (``layer_fusion.quantization``) and, for fp32 on the CPU, by ``layer-fusion
tag`` and ``tag-dataset`` (``embeddings_from_files``): 10,000 English lines peaked at 1,128
MiB in-process with it, 1,366 without, at the same speed. A pipeline from ``spacy.load``
keeps the torch lookup, so that it can still be trained.
"""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy
import torch

from .inference_only import mark_inference_only


@dataclass(frozen=True)
class FileSource:
    """A C-contiguous array stored at byte ``offset`` of ``path``; ``file``: (device, inode)
    of the file that was mapped, so a file put at ``path`` since then is told apart."""

    path: Path
    offset: int
    shape: Tuple[int, ...]
    dtype: numpy.dtype
    file: Optional[Tuple[int, int]] = None


# Data address of each live array made by map_tensors -> where it was mapped from.
_MAPPED: Dict[int, FileSource] = {}


def remember(array: numpy.ndarray, path: Path, offset: int) -> None:
    """Record that ``array`` maps ``path`` from ``offset``, until the array is freed."""
    address = array.ctypes.data
    stat = os.stat(path)
    _MAPPED[address] = FileSource(Path(path), offset, tuple(array.shape), array.dtype, (stat.st_dev, stat.st_ino))
    weakref.finalize(array, _MAPPED.pop, address, None)


def _written_pages(address: int, smaps: Path = Path("/proc/self/smaps")) -> Optional[int]:
    """kB of copy-on-write (written) pages in the mapping that holds ``address``; None if
    unknown."""
    try:
        lines = smaps.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    inside = False
    for line in lines:
        head = line.split(maxsplit=1)[0] if line.strip() else ""
        if "-" in head and not head.endswith(":"):
            start, _, end = head.partition("-")
            try:
                inside = int(start, 16) <= address < int(end, 16)
            except ValueError:
                inside = False
        elif inside and head == "Anonymous:":
            return int(line.split()[1])
    return None


def file_source(tensor: torch.Tensor) -> Optional[FileSource]:
    """Where ``tensor``'s values can be read from its file, or None: not mapped by
    ``map_tensors``, a view of part of a mapped tensor, or written since it was mapped."""
    source = _MAPPED.get(tensor.data_ptr())
    if source is None or tuple(tensor.shape) != source.shape or not tensor.is_contiguous():
        return None
    return source if _written_pages(tensor.data_ptr()) == 0 else None


class FileRows(torch.nn.Module):
    """``table[ids]`` for a 2-D table (rows, dim) stored at ``source``, read with one
    ``os.pread`` per distinct id: ids (...) -> tensor (..., dim) of the table's dtype. The
    same values as an ``nn.Embedding`` over the table without ``max_norm``, for inference.

    The file is opened once and kept open, and must be the one that was mapped
    (``FileSource.file``): a pipeline saved again while it tags (a training run writing
    ``model-best``) replaces ``model.safetensors`` by a rename, and rows read by path would
    then come from another file than the encoder's other weights."""

    def __init__(self, source: FileSource):
        super().__init__()
        if len(source.shape) != 2:
            raise ValueError(f"{source.path}: a lookup table has 2 dimensions, not {len(source.shape)}")
        self.source = source
        self.n_rows, self.dim = source.shape
        self.row_bytes = self.dim * source.dtype.itemsize
        self._fd: Optional[int] = None
        self._file()  # a file replaced since it was mapped fails here, not while tagging
        self.eval()  # for inference; a parent's train() switches it to training, which raises

    def _file(self) -> int:
        """The open file of the table (opened on first use, also in a process it was sent to)."""
        if self._fd is None:
            fd = os.open(self.source.path, os.O_RDONLY)
            stat = os.fstat(fd)
            if self.source.file is not None and (stat.st_dev, stat.st_ino) != self.source.file:
                os.close(fd)
                raise OSError(f"{self.source.path} is not the file the pipeline was loaded from (saved again since?): "
                              "load the pipeline again")
            self._fd = fd
            weakref.finalize(self, os.close, fd)
        return self._fd

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"] = None  # a file descriptor means nothing in another process
        return state

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            raise RuntimeError(f"the word embeddings read from {self.source.path} are for inference only: "
                               "load the pipeline again to train it")
        flat = ids.reshape(-1).cpu().numpy()
        unique, inverse = numpy.unique(flat, return_inverse=True)
        if len(unique) and (unique[0] < 0 or unique[-1] >= self.n_rows):
            bad = unique[0] if unique[0] < 0 else unique[-1]
            raise IndexError(f"id {bad} is outside the {self.n_rows} rows of {self.source.path}")
        rows = numpy.empty((len(unique), self.dim), dtype=self.source.dtype)
        fd = self._file()
        # Straight into the output rows: no intermediate bytes objects.
        offsets = (self.source.offset + unique * self.row_bytes).tolist()
        for row, offset in zip(rows.view(numpy.uint8), offsets):
            if os.preadv(fd, [row], offset) != self.row_bytes:
                raise OSError(f"{self.source.path}: a row at byte {offset} is cut short (the file changed?)")
        return torch.from_numpy(rows[inverse].reshape(*ids.shape, self.dim))


def row_lookup(embedding: torch.nn.Embedding) -> torch.nn.Module:
    """A ``FileRows`` over ``embedding``'s table where ``file_source`` finds its file (and
    ``max_norm``, which rewrites rows it reads, is off); else ``embedding`` itself."""
    if isinstance(embedding, FileRows):
        return embedding
    source = file_source(embedding.weight) if getattr(embedding, "max_norm", None) is None else None
    if source is None:
        return embedding
    try:
        return FileRows(source)
    except OSError:  # the file was replaced or removed since it was mapped: the map still holds it
        return embedding


def embeddings_from_files(nlp) -> int:
    """For tagging on the CPU: each transformer component's Hugging Face model looks its
    word embeddings up with ``row_lookup``. Returns how many it replaced (none where the
    tables are not file-backed). The pipeline tags as before, bit for bit; saving or
    training it raises (``inference_only``)."""
    from .quantization import transformer_shims

    replaced = []
    for name, shim in transformer_shims(nlp):
        model = shim._model
        if not hasattr(model, "set_input_embeddings"):  # an OnnxEncoder: already its own lookup
            continue
        embedding = model.get_input_embeddings()
        lookup = row_lookup(embedding)
        if lookup is not embedding:
            model.set_input_embeddings(lookup)
            replaced.append(name)
    if replaced:  # the tables are no longer in the state dicts that saving writes
        mark_inference_only(nlp, "its word embeddings are read from the encoder's files (embeddings_from_files)",
                            components=replaced)
    return len(replaced)
