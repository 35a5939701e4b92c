"""Whether a stored research run was made from what is asked for now.

The resumable stages (``scripts/run_experiments.py``, ``finetune_encoder.py``,
``accelerator_run.py``) name a run by its variant (fusion, layers, seed). The name does not
hold everything its results depend on: the schedule (epochs, steps, learning rates), the
data it read (hidden-state caches, a pack) or a ``--max-sentences`` cap. So each stage
stores a record of those inputs with the results, a flat dict such as

    {"settings": {...}, "pack_sha256": "9f2c...", "max_sentences": null}

and a run counts as done only when its record agrees with the inputs now (``record_change``).
The code that trains and scores a run is an input too: ``code_sha256`` digests the modules
it is made of, so a changed training loop makes the stored runs stale (comments,
docstrings and blank lines left out, so rewording one does not).
Needs the standard library alone: the accelerator job imports it without spaCy.
"""
import ast
import functools
import hashlib
import io
import json
import tokenize
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Set, Tuple, Union

from ..provenance import sha256


# What each recorded input is, for messages.
INPUT_NAMES = {"settings": "settings", "pack_sha256": "pack", "max_sentences": "--max-sentences cap",
               "made_from": "caches", "encoder_sha256": "encoder weights", "code_sha256": "training code"}
# The package's root: module names resolve to files under it.
_PACKAGE = Path(__file__).resolve().parents[1]


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


def code_sha256(module: str, root: Path = _PACKAGE) -> str:
    """One sha256 over the code of ``module`` (``"layer_fusion.research.finetuning"``) and of
    every module of the package it imports when it is imported, directly or not (an import
    inside a function, which runs only if it is called, is not followed): each file's text
    without its comments, docstrings, blank lines and trailing spaces, by path. Text, not a
    syntax tree: ``ast.unparse`` writes some code differently on other Python versions, and
    the accelerator that records a digest may run another Python than the machine that
    checks it.

    root: the package's folder (its name is the first part of ``module``)."""
    digest = hashlib.sha256()
    for path in sorted(_package_modules(module, root)):
        code = _code_text(path.read_text(encoding="utf8"))
        digest.update(f"{path.relative_to(root).as_posix()}\0{code}\n".encode("utf8"))
    return digest.hexdigest()


def source_sha256(path: Union[str, Path]) -> str:
    """sha256 of one Python file's code, without its comments, docstrings, blank lines and
    trailing spaces (as ``code_sha256`` reads each module): for a script outside the package."""
    return hashlib.sha256(_code_text(Path(path).read_text(encoding="utf8")).encode("utf8")).hexdigest()


def _package_modules(module: str, root: Path) -> Set[Path]:
    """The files of ``module`` and of the package modules it imports, transitively."""
    seen: Set[Path] = set()
    todo = [_module_file(root, module.split(".")[1:])]
    while todo:
        path = todo.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[:-1]  # the package a relative import starts from
        # Importing a module runs its packages' __init__ first.
        todo.extend(_module_file(root, package[:i]) for i in range(len(package) + 1))
        for node in _run_on_import(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.ImportFrom):
                names = node.module.split(".") if node.module else []
                if node.level:  # relative: from the package, one level up per extra dot
                    target = package[: len(package) - (node.level - 1)] + names
                elif names and names[0] == root.name:
                    target = names[1:]
                else:
                    continue
                todo.append(_module_file(root, target))
                todo.extend(_module_file(root, target + [a.name]) for a in node.names)  # a submodule, if it is one
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == root.name:
                        todo.append(_module_file(root, alias.name.split(".")[1:]))
    return seen


def _run_on_import(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a module that run when it is imported: all but function bodies."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                todo.extend(child.decorator_list if not isinstance(child, ast.Lambda) else [])
                continue
            todo.append(child)


def _module_file(root: Path, parts: List[str]):
    """The file of the package module ``parts`` (``["research", "batching"]``), or None."""
    base = root.joinpath(*parts)
    for path in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


def _code_text(source: str) -> str:
    """``source`` without comments, docstrings, blank lines and trailing spaces."""
    lines = source.splitlines()
    cuts = []  # ((line, column), (line, column)) spans to remove, 1-based lines, str columns
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            cuts.append((token.start, token.end))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                # ast columns count UTF-8 bytes; the lines here are str
                start = (first.lineno, _str_column(lines[first.lineno - 1], first.col_offset))
                end = (first.end_lineno, _str_column(lines[first.end_lineno - 1], first.end_col_offset))
                cuts.append((start, end))
    for (start_line, start_col), (end_line, end_col) in sorted(cuts, reverse=True):
        lines[start_line - 1: end_line] = [lines[start_line - 1][:start_col] + lines[end_line - 1][end_col:]]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _str_column(line: str, byte_offset: int) -> int:
    return len(line.encode("utf8")[:byte_offset].decode("utf8"))
