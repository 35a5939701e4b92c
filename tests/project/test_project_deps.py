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
    those that always run (no_skip: they check their inputs themselves). Smoke runs are
    rebuilt from scratch by the tests."""
    ud_dir = project["vars"]["ud_dir"]
    readers = [c for c in project["commands"]
               if not c["name"].startswith("smoke-") and not c.get("no_skip")
               and any(ud_dir in line.split() and "--skip-targets" not in line for line in c["script"])]
    assert {c["name"] for c in readers} >= {"corpus", "evaluate", "seed-runs", "evaluate-int8", "finetune-grid",
                                            "intermediate-grid", "finetune-pack", "accelerator-pack"}
    for command in readers:
        assert "corpus/evaluation_sets.json" in command["deps"], command["name"]
    index = next(c for c in project["commands"] if c["name"] == "evaluation-sets")
    assert index["no_skip"] and index["outputs"] == ["corpus/evaluation_sets.json"]
