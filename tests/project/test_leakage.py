"""Zero-shot discipline: no evaluation treebank, nor its language, reaches training or selection.

Reads project.yml and configs/targets.cfg: every CoNLL-U file that a training-data
command converts must be English or an extra-source treebank (marked so in project.yml's
assets and in the UD mirror's manifest) in a language that no non-English evaluation set
is in, and the selection script must not move when target accuracies do.
"""
import importlib.util
import json
import re
import shlex

import yaml

from layer_fusion.targets import load_targets

from conftest import ASSET_EXTRA_SOURCE_MARK, REPO, ud_test_files

# Commands known to write training or selection data; every other command that runs
# convert_ud.py is checked too (_training_data_commands), so a new one cannot slip past.
KNOWN_TRAINING_DATA_COMMANDS = {"corpus", "corpus-multisource", "corpus-syntax", "smoke-corpus"}
EXTRA_SOURCES = {"UD_Romanian-RRT", "UD_Swedish-Talbanken", "UD_Finnish-TDT", "UD_Turkish-BOUN",
                 "UD_Croatian-SET", "UD_Hindi-PUD", "UD_Portuguese-Bosque"}


def _commands():
    project = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in project["commands"]}


def _training_data_commands(commands):
    """Every command that converts UD into spaCy training data (calls convert_ud.py)."""
    return {name for name, c in commands.items() if any("convert_ud.py" in line for line in c["script"])}


def _training_files(command):
    """The --train-file/--dev-file values of convert_ud.py calls, plus its defaults."""
    files = []
    for line in command["script"]:
        args = shlex.split(line)
        if not any(a.endswith("convert_ud.py") for a in args):
            continue
        given = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--train-file", "--dev-file")}
        files += [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--train-file", "--dev-file")]
        if "--train-file" not in given:
            files.append("UD_English-EWT/en_ewt-ud-train.conllu")
        if "--dev-file" not in given:
            files.append("UD_English-EWT/en_ewt-ud-dev.conllu")
    return files


def test_no_evaluation_treebank_reaches_training_data():
    targets = load_targets(REPO / "configs" / "targets.cfg")
    evaluation = {t.treebank for t in targets.treebanks.values() if t.group != "english"}
    commands = _commands()
    training_data_commands = _training_data_commands(commands)
    assert KNOWN_TRAINING_DATA_COMMANDS <= training_data_commands
    seen = []
    for name in sorted(training_data_commands):
        files = _training_files(commands[name])
        assert files, name
        for f in files:
            treebank = f.split("/")[0]
            assert treebank not in evaluation, f"{name}: {f} is an evaluation treebank"
            assert treebank.startswith("UD_English") or treebank in EXTRA_SOURCES, f"{name}: {f}"
            seen.append(f)
    # English test files are evaluation sets too
    assert not [f for f in seen if re.search(r"-ud-test\.conllu$", f) and f.startswith("UD_English")]
    assert not EXTRA_SOURCES & evaluation


def test_no_evaluation_language_is_a_training_language():
    """A set is zero-shot only if its language was never seen labelled: another treebank of
    the language is as much a leak as the set itself. UD names files ``<iso>_<name>-ud-*``."""
    targets = load_targets(REPO / "configs" / "targets.cfg")
    evaluated = {t.iso: t.key for t in targets.treebanks.values() if t.group != "english"}
    commands = _commands()
    for name in sorted(_training_data_commands(commands)):
        for f in _training_files(commands[name]):
            iso = f.split("/")[-1].split("_")[0]
            assert iso not in evaluated, f"{name}: {f} is in the language of evaluation set {evaluated[iso]}"


def test_extra_sources_are_marked_so_where_the_data_comes_from(ud_dir):
    """project.yml's asset descriptions, and the mirror's MANIFEST.tsv when the tests read
    the mirror, mark exactly these treebanks as extra sources."""
    project = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))
    marked = {a["dest"].split("/")[1] for a in project["assets"] if ASSET_EXTRA_SOURCE_MARK in a["description"]}
    assert marked == EXTRA_SOURCES
    assert {f.split("/")[0] for f, is_extra in ud_test_files(ud_dir) if is_extra} == EXTRA_SOURCES


def _select_module():
    spec = importlib.util.spec_from_file_location("select_finetuned", REPO / "scripts" / "select_finetuned.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(en_dev, ref_dev, target):
    return {
        "treebanks": {"en_ewt_dev": {"accuracy": en_dev}, "yo_ytb": {"accuracy": target}},
        "macro_reference_dev": {"accuracy": ref_dev, "treebanks": ["de_gsd_dev", "es_gsd_dev", "fr_gsd_dev", "ru_gsd_dev"]},
        "macro_low_resource": {"accuracy": target},
    }


def test_selection_never_reads_target_accuracies(tmp_path):
    select = _select_module()
    grid = tmp_path / "grid.cfg"
    runs = {"a": (0.95, 0.80, 0.99), "b": (0.94, 0.85, 0.10)}
    grid.write_text("[runs]\n" + "".join(
        f'\n[runs.{n}]\nfusion = "LastLayer"\nlayers = [-1]\nbottom_layers = 0\nsteps = 10\n'
        f'source = "english"\nsplit_words = true\nseed = 0\n' for n in runs))
    for name, values in runs.items():
        (tmp_path / "m" / name).mkdir(parents=True)
        (tmp_path / "m" / name / "zero_shot.json").write_text(json.dumps(_metrics(*values)))
    select.main(grid=grid, metrics_dir=tmp_path / "m", base=REPO / "configs" / "finetune.cfg",
                output=tmp_path / "sel.json", config_out=tmp_path / "shipped.cfg", meta_out=tmp_path / "meta.json")
    result = json.loads((tmp_path / "sel.json").read_text())
    assert result["picks"]["english_dev"]["name"] == "a"
    assert result["picks"]["reference_dev"]["name"] == "b"  # despite its 10% on the target
    assert all(set(r) >= {"english_dev", "reference_dev"} and "yo_ytb" not in r for r in result["runs"])
    shipped = (tmp_path / "shipped.cfg").read_text()
    assert shipped.startswith("# GENERATED") and "bottom_layers = 0" in shipped
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert "English-EWT only" in meta["description"] and meta["requirements"] == ["torch>=2.0"]


def test_selection_ties_go_to_the_cheaper_run():
    select = _select_module()
    rows = [
        {"name": "long", "steps": 600, "bottom_layers": 0, "reference_dev": 0.90},
        {"name": "short", "steps": 300, "bottom_layers": 0, "reference_dev": 0.90 - 5e-5},
        {"name": "worse", "steps": 100, "bottom_layers": 6, "reference_dev": 0.85},
    ]
    assert select.pick(rows, "reference_dev")["name"] == "short"
    assert select.pick(rows[:1] + rows[2:], "reference_dev")["name"] == "long"


def test_every_ud_file_a_command_reads_is_a_pinned_asset(ud_dir):
    """Without the local mirror, `spacy project assets` must fetch every UD file the
    commands read (the multi-source corpus and the reference dev sets included)."""
    import hashlib

    project = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))
    assets = {a["dest"]: a for a in project["assets"]}
    deps = {d for c in project["commands"] for d in (c.get("deps") or []) if d.startswith("${vars.ud_dir}/")}
    assert deps and deps <= set(assets), sorted(deps - set(assets))
    targets = load_targets(REPO / "configs" / "targets.cfg")
    for t in targets.treebanks.values():
        if t.key != "ar_padt":  # absent from every source (see targets.cfg)
            assert f"${{vars.ud_dir}}/{t.treebank}/{t.file}" in assets, t.key
    for dest, asset in assets.items():  # the files the tests read are the pinned ones
        data = (ud_dir / dest.split("/", 1)[1]).read_bytes()
        assert hashlib.md5(data).hexdigest() == asset["checksum"], dest


def test_the_accelerator_grid_trains_on_english_and_extra_sources_only():
    """Its pack's training sets are EWT train and the `corpus-multisource` files; every run
    trains on one of them, keeps its final weights, and evaluates English dev only while training."""
    from layer_fusion.research.accelerator_plan import SOURCES, load_plan

    spec = importlib.util.spec_from_file_location("accelerator_grid", REPO / "scripts" / "accelerator_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets = load_targets(REPO / "configs" / "targets.cfg")
    evaluation = {t.treebank for t in targets.treebanks.values() if t.group != "english"}
    files = module.multisource_files()  # EWT train and the 13 extra-source files
    assert len(files) == 14 and module.EWT_TRAIN in files
    for f in files:
        treebank = f.split("/")[0]
        assert treebank not in evaluation and (treebank == "UD_English-EWT" or treebank in EXTRA_SOURCES), f
        assert not (treebank.startswith("UD_English") and f.endswith("-ud-test.conllu")), f
    plan = load_plan(REPO / "configs" / "accelerator_grid.cfg")
    assert plan["dev"] == "en_ewt_dev"
    assert {SOURCES[s][1] for s in SOURCES} == {"train", "train_multisource"}
    for run in plan["runs"]:
        assert run["settings"]["train_set"] in ("train", "train_multisource")
        assert run["settings"]["eval_every"] == run["settings"]["steps"]  # no checkpoint chosen by any set

