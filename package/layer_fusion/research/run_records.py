"""Whether a stored research run was made from what is asked for now.

The resumable stages (``scripts/run_experiments.py``, ``finetune_encoder.py``,
``accelerator_run.py``) name a run by its variant (fusion, layers, seed). The name does not
hold everything its results depend on: the schedule (epochs, steps, learning rates), the
data it read (hidden-state caches, a pack) or a ``--max-sentences`` cap. So each stage
stores a record of those inputs with the results, a flat dict such as

    {"settings": {...}, "pack_sha256": "9f2c...", "max_sentences": null}

and a run counts as done only when its record agrees with the inputs now (``record_change``).
Needs the standard library alone: the accelerator job imports it without spaCy.
"""
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple, Union

from ..provenance import sha256


# What each recorded input is, for messages.
INPUT_NAMES = {"settings": "settings", "pack_sha256": "pack", "max_sentences": "--max-sentences cap",
               "made_from": "caches", "encoder_sha256": "encoder weights"}


def input_names(keys: Iterable[str]) -> str:
    """``["settings", "made_from"]`` -> "settings, caches"."""
    return ", ".join(INPUT_NAMES.get(k, k) for k in keys)


def describe(keys: Iterable[str]) -> str:
    """``["settings", "pack_sha256"]`` -> "other settings and another pack"."""
    names = [INPUT_NAMES.get(k, k) for k in keys]
    return " and ".join(("another " if n == "pack" else "other ") + n for n in names)


def file_sha256(path: Union[str, Path]) -> str:
    """sha256 of a file, hashed once per process while its size and mtime stay the same
    (a stage asks for an encoder's weights once per set or run)."""
    path = Path(path)
    stat = path.stat()
    return _sha256_of_version(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _sha256_of_version(path: Path, size: int, mtime_ns: int) -> str:
    return sha256(path)


def folder_sha256(path: Union[str, Path], exclude: Iterable[str] = ()) -> str:
    """One sha256 over the names and contents of the files directly in ``path``, sorted by
    name, leaving out the names in ``exclude`` and hidden files (a writer's temp file)."""
    skip = set(exclude)
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).iterdir()
                       if p.is_file() and p.name not in skip and not p.name.startswith(".")):
        digest.update(f"{file.name}\0{file_sha256(file)}\n".encode("utf8"))
    return digest.hexdigest()


def as_record(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys strings), so that a
    record made now compares equal to the same record stored earlier."""
    return json.loads(json.dumps(value))


def record_change(recorded: Dict[str, Any], inputs: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(keys of ``inputs`` whose recorded value differs, keys the record lacks).

    A key the record lacks was not recorded when the run was made: it is not known to
    differ, and the caller decides (the stages keep such runs, with a warning)."""
    changed = [k for k in inputs if k in recorded and as_record(recorded[k]) != as_record(inputs[k])]
    missing = [k for k in inputs if k not in recorded]
    return changed, missing
