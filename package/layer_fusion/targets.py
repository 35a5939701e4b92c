"""The evaluation sets of a project: ``configs/targets.cfg`` (confection/spaCy INI).

``load_targets`` reads and checks it; ``Targets.select(group)`` lists one group's sets.
Groups: low_resource (zero-shot targets, macro-averaged), high_resource_reference,
english (in-language sets), reference_dev (dev sets for choosing between variants only).
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

from .error_text import one_line

# reference_dev: dev sets of high-resource reference languages, used only to choose
# between trained variants (never training data, never reported as targets).
GROUPS = ("low_resource", "high_resource_reference", "english", "reference_dev")
_TARGET_FIELDS = ("treebank", "language", "iso", "group", "file")


class TargetsError(ValueError):
    """A targets config that cannot be read or used; one line naming the file and setting."""


@dataclass(frozen=True)
class Target:
    """One evaluation set: UD_DIR/<treebank>/<file>."""

    key: str
    treebank: str
    language: str
    iso: str
    group: str
    file: str
    split: str = "test"

    def path(self, ud_dir: Union[str, Path]) -> Path:
        return Path(ud_dir) / self.treebank / self.file


@dataclass
class Targets:
    treebanks: Dict[str, Target]
    domain_pairs: Dict[str, Dict[str, str]] = field(default_factory=dict)
    genre_breakdown: List[str] = field(default_factory=list)
    # Named subsets of the low-resource targets whose macro-average is also reported.
    subsets: Dict[str, List[str]] = field(default_factory=dict)
    # Published macro-averages (accuracy points) of some subsets, shown beside the project's.
    published: Dict[str, float] = field(default_factory=dict)

    def select(self, group: Optional[str] = None) -> List[Target]:
        return [t for t in self.treebanks.values() if group is None or t.group == group]

    def file_checksums(self, ud_dir: Union[str, Path]) -> Dict[str, Dict[str, Optional[str]]]:
        """{key: {"file": "<treebank>/<file>", "sha256": hex, or None when absent}}: what an
        evaluation over ``ud_dir`` reads, so that a result can record it and be redone when
        one of these files appears, disappears or changes."""
        from .provenance import sha256

        out = {}
        for key, target in self.treebanks.items():
            path = target.path(ud_dir)
            out[key] = {"file": f"{target.treebank}/{target.file}",
                        "sha256": sha256(path) if path.is_file() else None}
        return out


def load_targets(path: Union[str, Path]) -> Targets:
    """Read a targets config (confection/spaCy INI, see ``configs/targets.cfg``).

    Raises TargetsError (a ValueError) naming the file, and the section and setting that is wrong.
    """
    from confection import Config

    try:
        cfg = Config().from_disk(path, interpolate=False)
    except (OSError, ValueError, configparser.Error) as err:
        raise TargetsError(f"{path}: {one_line(err)}") from None
    treebanks: Dict[str, Target] = {}
    files: Dict[str, str] = {}  # one set counted twice would weigh double in every macro-average
    for key, section in (cfg.get("treebanks") or {}).items():
        missing = [f for f in _TARGET_FIELDS if not section.get(f)]
        if missing:
            raise TargetsError(f"{path}: [treebanks.{key}] lacks {', '.join(missing)}")
        if section["group"] not in GROUPS:
            raise TargetsError(
                f"{path}: [treebanks.{key}] group = {section['group']!r}, expected one of {GROUPS}"
            )
        treebanks[key] = Target(
            key=key,
            treebank=str(section["treebank"]),
            language=str(section["language"]),
            iso=str(section["iso"]),
            group=str(section["group"]),
            file=str(section["file"]),
            split=str(section.get("split", "test")),
        )
        file = f"{treebanks[key].treebank}/{treebanks[key].file}"
        if file in files:
            raise TargetsError(f"{path}: [treebanks.{key}] is {file}, as [treebanks.{files[file]}] is already")
        files[file] = key
    pairs: Dict[str, Dict[str, str]] = {}
    for key, section in (cfg.get("domain_pairs") or {}).items():
        for side in ("a", "b"):
            if section.get(side) not in treebanks:
                raise TargetsError(
                    f"{path}: [domain_pairs.{key}] {side} = {section.get(side)!r} is not a [treebanks.*] key"
                )
        if section["a"] == section["b"]:
            raise TargetsError(f"{path}: [domain_pairs.{key}] compares {section['a']!r} with itself")
        pairs[key] = {"a": section["a"], "b": section["b"], "label": str(section.get("label", key))}
    genres = (cfg.get("genre_breakdown") or {}).get("treebanks", [])
    if not isinstance(genres, list):
        raise TargetsError(f"{path}: [genre_breakdown] treebanks = {genres!r} is not a list")
    for key in genres:
        if key not in treebanks:
            raise TargetsError(f"{path}: [genre_breakdown] treebanks lists {key!r}, not a [treebanks.*] key")
    subsets: Dict[str, List[str]] = {}
    for name, keys in (cfg.get("subsets") or {}).items():
        if not isinstance(keys, list):
            raise TargetsError(f"{path}: [subsets] {name} = {keys!r} is not a list")
        unknown = [k for k in keys if k not in treebanks]
        if unknown:
            raise TargetsError(f"{path}: [subsets] {name} lists {unknown}, not [treebanks.*] keys")
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise TargetsError(f"{path}: [subsets] {name} lists {twice} more than once")
        subsets[name] = list(keys)
    published: Dict[str, float] = {}
    for name, value in (cfg.get("published") or {}).items():
        if name not in subsets:
            raise TargetsError(f"{path}: [published] {name} is not a [subsets] name")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise TargetsError(f"{path}: [published] {name} = {value!r} is not an accuracy in points (0 to 100)")
        published[name] = float(value)
    return Targets(treebanks=treebanks, domain_pairs=pairs, genre_breakdown=genres, subsets=subsets,
                   published=published)
