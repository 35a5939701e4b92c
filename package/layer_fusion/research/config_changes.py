"""Which settings differ between two versions of a spaCy config.

A grid run's metrics record the sha256 of the config it was trained from
(``scripts/finetune_grid.py``): a different hash says only *that* the config changed.
``changed_settings`` says *what* changed, as dotted keys::

    changed_settings(old_text, new_text)
    -> ["components.transformer.max_batch_items", "nlp.pipeline"]

Both configs are read without interpolation, so ``${paths.train}`` compares as written.
"""
from typing import Any, Dict, List, Union

from confection import Config

ABSENT = object()  # a setting one of the two configs does not have


def flatten(section: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """{"a": {"b": 1}, "c": 2} -> {"a.b": 1, "c": 2}. An empty section is kept as ``{}``,
    so that adding or removing one counts as a change."""
    out: Dict[str, Any] = {}
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def changed_settings(old: Union[str, Config], new: Union[str, Config]) -> List[str]:
    """The sorted dotted keys whose values differ, or that only one config has."""
    a, b = (flatten(_config(c)) for c in (old, new))
    return sorted(k for k in a.keys() | b.keys() if a.get(k, ABSENT) != b.get(k, ABSENT))


def summarize_changes(old: Union[str, Config], new: Union[str, Config]) -> List[str]:
    """``changed_settings``, with a section only one config has named once:
    ``["components.attribute_ruler (added)", "nlp.pipeline"]``."""
    a, b = (flatten(_config(c)) for c in (old, new))
    in_a, in_b = _prefixes(a), _prefixes(b)
    out: List[str] = []
    for key in changed_settings(old, new):
        parts = key.split(".")
        item = key
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix not in in_a or prefix not in in_b:
                item = f"{prefix} ({'added' if prefix not in in_a else 'removed'})"
                break
        if item not in out:
            out.append(item)
    return out


def _prefixes(flat: Dict[str, Any]) -> set:
    """Every section path and key of a flattened config: "a.b.c" gives a, a.b, a.b.c."""
    out = set()
    for key in flat:
        parts = key.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def describe_changes(keys: List[str], limit: int = 4) -> str:
    """``["a", "b", "c", "d", "e", "f"]`` -> "a, b, c, d and 2 more"."""
    if len(keys) <= limit:
        return ", ".join(keys)
    return f"{', '.join(keys[:limit])} and {len(keys) - limit} more"


def _config(config: Union[str, Config]) -> Config:
    return config if isinstance(config, Config) else Config().from_str(config, interpolate=False)
