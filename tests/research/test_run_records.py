"""layer_fusion.research.run_records: records of what a research run was made from."""
from layer_fusion.research.run_records import code_sha256, folder_sha256, record_change


def test_a_folder_digest_follows_names_and_contents_of_its_files(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"1")
    (tmp_path / "plan.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").write_text("ignored: not directly in the folder")
    digest = folder_sha256(tmp_path)
    without_plan = folder_sha256(tmp_path, exclude=["plan.json"])
    assert digest != without_plan
    (tmp_path / "plan.json").write_text('{"runs": []}')
    assert folder_sha256(tmp_path, exclude=["plan.json"]) == without_plan != folder_sha256(tmp_path)
    (tmp_path / "a.npz").rename(tmp_path / "b.npz")  # same bytes, other name
    assert folder_sha256(tmp_path, exclude=["plan.json"]) != without_plan
    (tmp_path / "b.npz").rename(tmp_path / "a.npz")
    (tmp_path / "a.npz").write_bytes(b"2")
    assert folder_sha256(tmp_path, exclude=["plan.json"]) != without_plan
    (tmp_path / "sub" / "x").write_text("changed")
    (tmp_path / "a.npz").write_bytes(b"1")
    assert folder_sha256(tmp_path, exclude=["plan.json"]) == without_plan


def test_a_record_is_compared_as_it_reads_back_from_json():
    inputs = {"settings": {"layers": (1, -1), "steps": 2}, "pack_sha256": "p", "max_sentences": None}
    stored = {"settings": {"layers": [1, -1], "steps": 2}, "pack_sha256": "p", "max_sentences": None, "device": "cpu"}
    assert record_change(stored, inputs) == ([], [])
    assert record_change({**stored, "max_sentences": 3}, inputs) == (["max_sentences"], [])
    assert record_change({**stored, "settings": {"layers": [2, -1], "steps": 2}}, inputs) == (["settings"], [])
    older = {k: v for k, v in stored.items() if k != "pack_sha256"}
    assert record_change(older, inputs) == ([], ["pack_sha256"])  # not recorded then: not known to differ


def test_a_file_digest_is_hashed_once_and_again_when_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from layer_fusion.research import run_records

    calls = []
    real = run_records.sha256
    monkeypatch.setattr(run_records, "sha256", lambda path: calls.append(path) or real(path))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"v1")
    assert run_records.file_sha256(weights) == run_records.file_sha256(weights) == hashlib.sha256(b"v1").hexdigest()
    assert len(calls) == 1
    weights.write_bytes(b"v2!")
    os.utime(weights, ns=(1, 10**18))
    assert run_records.file_sha256(weights) == hashlib.sha256(b"v2!").hexdigest() and len(calls) == 2


def _package(root, files):
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf8")
    return root / "pkg"


def test_the_code_digest_follows_the_code_a_module_imports_not_its_comments(tmp_path):
    """``code_sha256`` covers the module, what it imports from the package when imported
    (relative or absolute, a submodule named in ``from . import``, the packages' __init__),
    transitively, and nothing else; comments, docstrings and blank lines do not count."""
    files = {
        "__init__.py": "",
        "train.py": '"""Train."""\nfrom .sub.loop import step\nfrom . import schedule\nimport json\n',
        "sub/__init__.py": "",
        "sub/loop.py": "import pkg.maths\n\ndef step(x):\n    return pkg.maths.double(x)\n\n\n"
                       "def build():\n    from .. import unrelated  # runs only if called\n    return unrelated\n",
        "maths.py": "def double(x):\n    return 2 * x\n",
        "schedule.py": "RATE = 0.1\n",
        "unrelated.py": "X = 1\n",
    }
    root = _package(tmp_path, files)
    before = code_sha256("pkg.train", root)

    def digest_after(name, text):
        (root / name).write_text(text, encoding="utf8")
        try:
            return code_sha256("pkg.train", root)
        finally:
            (root / name).write_text(files[name], encoding="utf8")

    # Code each import reaches, directly or not, counts.
    assert digest_after("maths.py", "def double(x):\n    return 3 * x\n") != before
    assert digest_after("schedule.py", "RATE = 0.2\n") != before
    assert digest_after("sub/__init__.py", "FLAG = True\n") != before
    assert digest_after("__init__.py", "FLAG = True\n") != before
    # Comments, docstrings and blank lines do not; nor a module imported only inside a function.
    assert digest_after("maths.py", '# twice\ndef double(x):\n    """Twice x."""\n\n    return 2 * x  # so\n') == before
    assert digest_after("train.py", "from .sub.loop import step\nfrom . import schedule\nimport json\n") == before
    assert digest_after("unrelated.py", "X = 2\n") == before
    assert code_sha256("pkg.train", root) == before
