"""project.yml: every dependency of a command exists when weasel runs it.

weasel stops with "Missing dependency" when a dep is neither there nor made, so each dep
must be committed, a declared asset (the UD files), or an output of a command: of an
earlier step when the command is a workflow step, of some command otherwise.
"""
import subprocess

import pytest
from weasel.util import load_project_config

from conftest import REPO


@pytest.fixture(scope="module")
def project():
    return load_project_config(REPO)


@pytest.fixture(scope="module")
def committed():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(files.splitlines())


def _within(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _available(dep, committed, assets, made):
    """A file or folder that is committed (a folder: holds committed files), an asset, or made."""
    return (dep in committed or any(_within(f, dep) for f in committed)
            or dep in assets or any(_within(dep, out) for out in made))


def _missing(steps, project, committed, made):
    commands = {c["name"]: c for c in project["commands"]}
    assets = {a["dest"] for a in project["assets"]}
    missing = []
    for step in steps:
        missing += [(step, dep) for dep in commands[step].get("deps", [])
                    if not _available(dep, committed, assets, made)]
        made = made + commands[step].get("outputs", [])
    return missing


def test_every_workflow_step_finds_its_deps(project, committed):
    for name, steps in project["workflows"].items():
        assert _missing(steps, project, committed, made=[]) == [], name


def test_every_command_dep_is_committed_an_asset_or_made_by_a_command(project, committed):
    made = [out for c in project["commands"] for out in c.get("outputs", [])]
    names = [c["name"] for c in project["commands"]]
    assert _missing(names, project, committed, made) == []


def test_a_workflow_without_its_producer_is_caught(project, committed):
    """The check itself: a step whose deps come from a step left out is reported."""
    assert ("finetune-pack", "metrics/experiments/sweep") in _missing(["finetune-pack"], project, committed, [])


def test_every_command_that_reads_the_evaluation_sets_depends_on_their_index(project):
    """Sets listed in configs/targets.cfg may be absent, so they cannot be deps themselves
    (weasel refuses a missing one); a command reading them depends on their index instead,
    or a new or corrected evaluation file would never re-run it. A reader is any command given
    the UD folder, but those that convert named training files only (--skip-targets) and
    those that always run (no_skip: they check their inputs themselves). Smoke runs too: a
    smoke run in a folder of its own is rebuilt, but `make smoke` run twice is not."""
    ud_dir = project["vars"]["ud_dir"]
    readers = [c for c in project["commands"]
               if not c.get("no_skip")
               and any(ud_dir in line.split() and "--skip-targets" not in line for line in c["script"])]
    assert {c["name"] for c in readers} >= {"corpus", "evaluate", "seed-runs", "evaluate-int8", "finetune-grid",
                                            "intermediate-grid", "finetune-pack", "accelerator-pack",
                                            "smoke-corpus", "smoke-evaluate"}
    for command in readers:
        assert "corpus/evaluation_sets.json" in command["deps"], command["name"]
    index = next(c for c in project["commands"] if c["name"] == "evaluation-sets")
    assert index["no_skip"] and index["outputs"] == ["corpus/evaluation_sets.json"]


def test_the_accelerator_pack_depends_on_the_multisource_training_files(project):
    """scripts/accelerator_grid.py pack tokenizes corpus-multisource's --train-file list, read
    from project.yml: each file, and project.yml, are deps, or an edited list or a changed
    treebank would leave the pack stale."""
    commands = {c["name"]: c for c in project["commands"]}
    [line] = commands["corpus-multisource"]["script"]
    words = line.split()
    train_files = [words[i + 1] for i, w in enumerate(words) if w == "--train-file"]
    assert len(train_files) == 14
    deps = commands["accelerator-pack"]["deps"]
    assert "project.yml" in deps
    assert [f for f in train_files if f"{project['vars']['ud_dir']}/{f}" not in deps] == []


def test_training_commands_depend_on_every_module_of_the_model(project):
    """The config's registered names build the model from these files: a new or changed one
    needs a new pipeline (weasel hashes a listed folder with its __pycache__, so files are listed)."""
    library = REPO / "package" / "layer_fusion"
    model = {f"package/layer_fusion/{p.relative_to(library).as_posix()}"
             for folder in ("layers", "fusion") for p in (library / folder).glob("*.py")}
    model |= {f"package/layer_fusion/{name}" for name in ("architectures.py", "transformer_component.py", "freezing.py",
                                                            "sentence_spans.py")}
    for command in project["commands"]:
        if command["name"] in ("train", "seed-runs", "smoke-train"):
            assert sorted(model - set(command["deps"])) == [], command["name"]
