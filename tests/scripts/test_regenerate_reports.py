"""scripts/regenerate_reports.py: archives fill in missing metrics and never overwrite local
ones; the report archives are reproducible byte for byte."""
import io
import tarfile

import pytest
import typer
from runners import load_script


def _archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_missing_files_are_extracted_and_local_ones_kept(tmp_path):
    from layer_fusion.research.metrics_archive import restore_missing

    archive = _archive(tmp_path / "a.tar.gz", {"main/x.json": b"archived x", "main/y.json": b"archived y"})
    folder = tmp_path / "metrics"
    (folder / "main").mkdir(parents=True)
    (folder / "main" / "x.json").write_bytes(b"local x")
    assert restore_missing(archive, folder) == 1
    assert (folder / "main" / "x.json").read_bytes() == b"local x"
    assert (folder / "main" / "y.json").read_bytes() == b"archived y"
    assert restore_missing(archive, folder) == 0
    assert not list(folder.rglob("*.partial"))
    assert restore_missing(tmp_path / "no_such.tar.gz", folder) == 0


def test_a_member_outside_the_folder_is_refused(tmp_path):
    from layer_fusion.research.metrics_archive import restore_missing

    archive = _archive(tmp_path / "evil.tar.gz", {"../escaped.json": b"x"})
    with pytest.raises(ValueError, match="evil.tar.gz: member '../escaped.json' would land outside"):
        restore_missing(archive, tmp_path / "metrics")
    assert not (tmp_path / "escaped.json").exists()
    regen = load_script("regenerate_reports")  # the script's own message: a usage error
    regen.REPO = tmp_path
    regen.REPORTS = [("evil.tar.gz", "metrics", ["-c", "pass"])]
    with pytest.raises(typer.BadParameter, match="outside"):
        regen.main()


def test_report_archives_depend_on_content_only(tmp_path):
    from layer_fusion.research.metrics_archive import write_reproducible_archive

    members = [("b/zero_shot.json", b"{}"), ("a/zero_shot.json", b"[1]")]
    write_reproducible_archive(tmp_path / "one.tar.gz", members)
    write_reproducible_archive(tmp_path / "two.tar.gz", list(reversed(members)))
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        assert tar.getnames() == ["a/zero_shot.json", "b/zero_shot.json"]
        assert tar.extractfile("a/zero_shot.json").read() == b"[1]"


def test_sweep_runs_are_archived_without_per_sentence_counts_and_stably(tmp_path):
    import json

    report = load_script("make_report")
    run = {"treebanks": {"x": {"accuracy": 0.5, "per_sentence": {"words": [1, 2], "correct": [[1, 1]]}}},
           "english_dev": 0.9}
    path = tmp_path / "AIF-L4_-1-s0.json"
    path.write_text(json.dumps(run, indent=1), encoding="utf-8")
    stripped = report.archived_bytes("sweep", path)
    assert json.loads(stripped) == {"treebanks": {"x": {"accuracy": 0.5}}, "english_dev": 0.9}
    path.write_bytes(stripped)
    assert report.archived_bytes("sweep", path) == stripped  # regenerating from the archive changes nothing
    path.write_text(json.dumps(run, indent=1), encoding="utf-8")
    assert report.archived_bytes("main", path) == path.read_bytes()  # the paired tests need main's counts


def test_a_comparison_with_a_fusion_on_two_layer_settings_is_refused():
    """Results of an earlier k* left beside the new ones ([4, -1] and [6, -1] for DLFA) would
    enter the comparison as a variant of their own: the report names them instead."""
    from runners import load_script

    report = load_script("make_report")

    def run(fusion, layers, seed):
        return {"settings": {"fusion": fusion, "layers": layers, "seed": seed}}

    current = [run("LastLayer", [-1], s) for s in (0, 1)] + [run("DLFA", [4, -1], s) for s in (0, 1)]
    report.check_one_layer_setting("main", current)
    with pytest.raises(SystemExit, match=r"main: DLFA runs on several layer settings \(\[4, -1\], \[6, -1\]\)"):
        report.check_one_layer_setting("main", current + [run("DLFA", [6, -1], 0)])
