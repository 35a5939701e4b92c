import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Quantized encoders go to a folder of this run, not the user's cache; inherited by the
# CLI subprocesses and Ray workers the tests start. Removed at exit.
_INT8_CACHE = tempfile.mkdtemp(prefix="layer-fusion-test-int8-cache-")
os.environ["LAYER_FUSION_INT8_CACHE"] = _INT8_CACHE
atexit.register(shutil.rmtree, _INT8_CACHE, True)

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from layer_fusion.research.tiny_models import build_e5_like, build_tiny_bert, build_tiny_xlmr  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _ud_dir() -> Path:
    """The UD treebanks the tests read, in the layout `<dir>/<treebank>/<file>.conllu`.

    ``$LAYER_FUSION_UD_DIR`` when set (`make test` sets it to the Makefile's ``UD_DIR``),
    else the local mirror ``../shared/ud`` when it is there, else ``assets/ud``, where
    `spacy project assets` puts the files ``project.yml`` pins."""
    if os.environ.get("LAYER_FUSION_UD_DIR"):
        return (REPO / os.environ["LAYER_FUSION_UD_DIR"]).resolve()
    mirror = REPO.parent / "shared" / "ud"
    return mirror if (mirror / "MANIFEST.tsv").is_file() else REPO / "assets" / "ud"


UD_DIR = _ud_dir()
# How project.yml's asset descriptions and the mirror's provenance column mark the
# extra-source treebanks: training data for the multi-source variant, never targets.
ASSET_EXTRA_SOURCE_MARK = "extra training source, never a target"
MANIFEST_EXTRA_SOURCE_MARK = "extra source language (not an evaluation target)"


@pytest.fixture(scope="session")
def ud_dir() -> Path:
    """``UD_DIR``, or a failure that says how to get it (no test passes without its data)."""
    if not (UD_DIR / "UD_English-EWT" / "en_ewt-ud-dev.conllu").is_file():
        pytest.fail(f"no UD treebanks at {UD_DIR}: `make test` fetches them with `spacy project assets`, "
                    "or set LAYER_FUSION_UD_DIR to a copy laid out as <treebank>/<file>.conllu")
    return UD_DIR


def ud_test_files(ud_dir: Path) -> List[Tuple[str, bool]]:
    """(``<treebank>/<file>``, is an extra source) of every test split in ``ud_dir``.

    From the mirror's ``MANIFEST.tsv`` where there is one, else from ``project.yml``'s
    assets, which are what `spacy project assets` put there."""
    manifest = ud_dir / "MANIFEST.tsv"
    if manifest.is_file():
        rows = [line.split("\t") for line in manifest.read_text(encoding="utf-8").splitlines()[1:]]
        return [(r[4], MANIFEST_EXTRA_SOURCE_MARK in r[-1]) for r in rows if r[3] == "test"]
    project = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))
    return [(a["dest"].split("/", 1)[1], ASSET_EXTRA_SOURCE_MARK in a["description"])
            for a in project["assets"] if a["dest"].endswith("-ud-test.conllu")]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end tests (training, packaging)")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "model")


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory) -> Path:
    return build_tiny_xlmr(tmp_path_factory.mktemp("tiny-xlmr") / "model")


@pytest.fixture(scope="session")
def e5_like(tiny_xlmr, tmp_path_factory) -> Path:
    """A BERT model with an XLM-R tokenizer, like the built multilingual-e5-small."""
    return build_e5_like(tiny_xlmr, tmp_path_factory.mktemp("e5-like") / "model")


@pytest.fixture(scope="session", params=["bert", "xlmr"])
def tiny_model(request, tiny_bert, tiny_xlmr) -> Path:
    return {"bert": tiny_bert, "xlmr": tiny_xlmr}[request.param]
