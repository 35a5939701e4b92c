"""Load a pipeline named on the command line, with one-line errors that say how to fix it."""
from pathlib import Path
from typing import Iterable, Union

from spacy.language import Language


class PipelineLoadError(ValueError):
    """The pipeline name or path does not lead to a loadable spaCy pipeline."""


def names_a_pipeline_folder(name: str) -> bool:
    """Installed pipelines are Python package names, with no path separator; a name with
    one, or rooted at "." or "~", is a pipeline folder (even a missing one: the error then
    says to check the path, not to pip install)."""
    return "/" in name or "\\" in name or name.startswith(".") or name.startswith("~")


def load_pipeline(name: str, exclude: Iterable[str] = ()) -> Language:
    """``spacy.load`` an installed package name or a pipeline folder.

    Raises PipelineLoadError with a one-line message if ``name`` is neither an installed
    package nor a folder with a ``config.cfg``, or if loading fails.
    """
    import spacy

    source = resolve_pipeline(name)
    try:
        return spacy.load(source, exclude=list(exclude))
    except Exception as err:  # noqa: BLE001 - any loading failure becomes one line
        raise PipelineLoadError(f"{name}: cannot load the pipeline: {_load_failure(err)}") from err


def _load_failure(err: Exception) -> str:
    """One line: a config error's title and each setting it names with the reason (confection
    appends the whole block's settings, which do not fit), else the message's first line."""
    errors = getattr(err, "errors", None)
    if isinstance(errors, list) and errors and all(isinstance(e, dict) and "loc" in e for e in errors):
        title = (str(getattr(err, "title", "") or "").strip() or type(err).__name__)
        where = "; ".join(f"{' -> '.join(map(str, e['loc']))}: {' '.join(str(e.get('msg', '')).split())}"
                          for e in errors)
        return f"{title}: {where}"
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def resolve_pipeline(name: str) -> Union[str, Path]:
    """What ``spacy.load`` should be given for ``name`` (a folder or an installed package),
    without loading it; PipelineLoadError (one line) if it is neither."""
    import spacy

    path = Path(name).expanduser()
    if not name:
        raise PipelineLoadError("the pipeline name is empty: give an installed pipeline package or a folder")
    is_pipeline_folder = path.is_dir() and (path / "config.cfg").is_file()
    if not is_pipeline_folder and spacy.util.is_package(name):
        # e.g. run inside `spacy package`'s output folder, which holds a source folder of the
        # package's name: a folder that is no pipeline does not hide the installed package.
        return name
    if path.exists() or names_a_pipeline_folder(name):
        if not path.exists():
            raise PipelineLoadError(f"{name}: no such folder; check the path to the pipeline")
        if not is_pipeline_folder:
            what = "a folder without config.cfg" if path.is_dir() else "a file"
            raise PipelineLoadError(f"{name} is not a spaCy pipeline folder ({what}); {_where_instead(path)}")
        source = path
    elif spacy.util.is_package(name):
        source = name
    else:
        raise PipelineLoadError(
            f"pipeline {name!r} is not installed: pip install its package (e.g. "
            f"pip install packages/{name}-*/dist/{name}-*.whl) or give the pipeline's folder"
        )
    return source


def _where_instead(path: Path) -> str:
    """What to give instead of ``path``, which is no pipeline folder: a wheel's package name
    once installed, the one pipeline folder inside it (``spacy package`` puts it two levels
    down), or else where a trained pipeline usually is."""
    if path.is_file() and path.name.endswith(".whl"):
        package = path.name.split("-")[0]  # a wheel's name is <package>-<version>-...
        return f"it is a wheel: pip install it, then give its package name ({package})"
    found = sorted(path.glob("*/config.cfg")) + sorted(path.glob("*/*/config.cfg")) if path.is_dir() else []
    if len(found) == 1:
        return f"the pipeline folder in it is {found[0].parent}"
    return "check the path (e.g. training/finetuned/model-last)"
