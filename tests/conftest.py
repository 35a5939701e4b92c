import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

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

sys.path.insert(0, str(Path(__file__).parent))

from layer_fusion.research.tiny_models import build_e5_like, build_tiny_bert, build_tiny_xlmr  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_UD = REPO.parent / "shared" / "ud"


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
