"""scripts/select_finetuned.py's bad inputs (its protocol: tests/project/test_leakage.py)."""
import json

from typer.testing import CliRunner

from runners import load_script


def test_selection_without_reference_dev_or_with_an_unwritable_output_fails_first(tmp_path):
    """One-line errors, and none of the three outputs written (they must agree)."""
    select = load_script("select_finetuned")
    grid = tmp_path / "grid.cfg"
    grid.write_text('[runs]\n\n[runs.a]\nfusion = "LastLayer"\nlayers = [-1]\nbottom_layers = 0\nsteps = 10\n'
                    'source = "english"\nsplit_words = true\nseed = 0\n')
    (tmp_path / "m" / "a").mkdir(parents=True)
    metrics = {"treebanks": {"en_ewt_dev": {"accuracy": 0.95}}}  # no reference-dev macro-average
    (tmp_path / "m" / "a" / "zero_shot.json").write_text(json.dumps(metrics))
    outs = ["--output", str(tmp_path / "sel.json"), "--config-out", str(tmp_path / "shipped.cfg"),
            "--meta-out", str(tmp_path / "meta.json")]
    args = ["--grid", str(grid), "--metrics-dir", str(tmp_path / "m"), *outs]
    result = CliRunner().invoke(select.app, args)
    assert result.exit_code == 1 and "has a reference-dev macro-average" in " ".join(result.output.split())
    metrics["macro_reference_dev"] = {"accuracy": 0.8}
    (tmp_path / "m" / "a" / "zero_shot.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(select.app, [*args, "--config-out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot write --config-out {tmp_path}: it is a folder" in " ".join(result.output.split())
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".json", ".cfg") and p.name != "grid.cfg"]


def test_the_package_meta_credits_the_encoder_and_every_training_treebank_with_its_licence():
    """The packaged pipeline's README lists its meta's sources (CC BY-SA asks for attribution);
    the licences are the UD data's own (its MANIFEST.tsv, or the assets' descriptions)."""
    import csv

    from conftest import REPO, UD_DIR

    select = load_script("select_finetuned")
    run = {"source": "multisource", "fusion": "DLFA", "bottom_layers": 4, "steps": 600}
    meta = select.package_meta(run)
    names = [s["name"] for s in meta["sources"]]
    assert names[0] == "intfloat/multilingual-e5-small" and meta["sources"][0]["license"] == "MIT"
    for treebank in ("English-EWT", "Romanian-RRT", "Swedish-Talbanken", "Finnish-TDT", "Turkish-BOUN",
                     "Croatian-SET", "Hindi-PUD", "Portuguese-Bosque"):  # as the description says
        assert f"UD_{treebank}" in names and treebank in meta["description"]
    assert len(names) == 9
    assert [s["name"] for s in select.package_meta({**run, "source": "english"})["sources"]][1:] == ["UD_English-EWT"]
    manifest = UD_DIR / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open(encoding="utf-8") as f:
            licences = {row["treebank"]: row["license"] for row in csv.DictReader(f, delimiter="\t")}
    else:  # the pinned assets: "UD_Hindi-PUD test (CC BY-SA 3.0, r2.17, ...)"
        import re

        text = (REPO / "project.yml").read_text(encoding="utf-8")
        licences = dict(re.findall(r"description: \"(UD_[\w-]+) \w+ \((CC [^,]+),", text))
    for source in meta["sources"][1:]:
        assert source["license"] == licences[source["name"]], source["name"]
    committed = json.loads((REPO / "configs" / "package_meta.json").read_text(encoding="utf-8"))
    assert committed["sources"] == meta["sources"]


def test_rerunning_the_selection_on_the_archived_grid_reproduces_its_committed_outputs(tmp_path):
    """`spacy project run select-finetuned` reruns whenever metrics/grid changes (the
    intermediate grid writes there too). Over the grid's archived metrics it must give back the
    committed selection, training config and meta byte for byte: a difference in
    configs/finetuned.cfg would make `make all` retrain the shipped pipeline."""
    import tarfile

    from conftest import REPO

    select = load_script("select_finetuned")
    with tarfile.open(REPO / "reports" / "finetune_grid_metrics.tar.gz") as tar:
        tar.extractall(tmp_path / "grid", filter="data")
    outputs = {"output": REPO / "reports" / "finetune_selection.json",
               "config_out": REPO / "configs" / "finetuned.cfg",
               "meta_out": REPO / "configs" / "package_meta.json"}
    select.main(grid=REPO / "configs" / "finetune_grid.cfg", metrics_dir=tmp_path / "grid",
                base=REPO / "configs" / "finetune.cfg",
                **{setting: tmp_path / path.name for setting, path in outputs.items()})
    for path in outputs.values():
        assert (tmp_path / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path


def test_a_reference_dev_macro_over_fewer_sets_is_not_ranked(tmp_path):
    """Run b's macro covers three of the four reference-dev sets (one file missing when it was
    evaluated): its higher mean is over other sets, so it is left out, with a warning, and a wins."""
    select = load_script("select_finetuned")
    sets = select.reference_dev_sets()
    assert len(sets) == 4
    grid = tmp_path / "grid.cfg"
    grid.write_text("[runs]\n" + "".join(
        f'\n[runs.{name}]\nfusion = "LastLayer"\nlayers = [-1]\nbottom_layers = 0\nsteps = 10\n'
        'source = "english"\nsplit_words = true\nseed = 0\n' for name in ("a", "b")))
    for name, accuracy, covered in (("a", 0.80, sets), ("b", 0.90, sets[:3])):
        (tmp_path / "m" / name).mkdir(parents=True)
        (tmp_path / "m" / name / "zero_shot.json").write_text(json.dumps({
            "treebanks": {"en_ewt_dev": {"accuracy": 0.95}},
            "macro_reference_dev": {"accuracy": accuracy, "treebanks": covered}}))
    result = CliRunner().invoke(select.app, [
        "--grid", str(grid), "--metrics-dir", str(tmp_path / "m"), "--output", str(tmp_path / "sel.json"),
        "--config-out", str(tmp_path / "shipped.cfg"), "--meta-out", str(tmp_path / "meta.json")])
    assert result.exit_code == 0, result.output
    assert "b: its reference-dev macro covers" in " ".join(result.output.split())
    assert json.loads((tmp_path / "sel.json").read_text())["picks"]["reference_dev"]["name"] == "a"
