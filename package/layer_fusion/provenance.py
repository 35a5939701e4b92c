"""Where a metrics file came from: config and its hash, code commit, package versions."""
import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Optional, Union

PACKAGES = ("spacy", "spacy-transformers", "thinc", "transformers", "torch", "numpy", "spacy-layer-fusion")


def sha256(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: Union[str, Path, None] = None) -> Optional[str]:
    """HEAD's commit, with "+dirty" when tracked files differ; None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def provenance(config_path: Union[str, Path], base_encoder: Optional[str] = None) -> Dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: Dict[str, Any] = {
        "config": str(config_path),
        "config_sha256": sha256(config_path),
        "git_commit": git_commit(Path(config_path).resolve().parent),
        "versions": versions,
    }
    if base_encoder:
        weights = Path(base_encoder) / "model.safetensors"
        info["encoder"] = str(base_encoder)
        info["encoder_sha256"] = sha256(weights) if weights.is_file() else None
    return info
