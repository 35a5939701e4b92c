"""End to end: `spacy train` and `spacy package` for every fusion, the smoke
workflow, and the wheels installed into a fresh virtualenv and loaded from
another directory with `spacy.load`.

The fresh venv gets torch from the local CPU wheel first (as the README says),
then the wheels; their other dependencies come from the package index (or pip's
cache).
"""
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from conftest import REPO
from layer_fusion.fusion import fusion_block

pytestmark = pytest.mark.slow

FUSION_CONFIGS = {
    "lastlayer": ([-1], fusion_block("LastLayer")),
    "dlfa": ([1, -1], fusion_block("DLFA")),
    "aif": ([1, -1], fusion_block("AIF")),
    "scalarmix": ([0, 1, 2, 3], fusion_block("ScalarMix")),
    "layerattention": ([0, 1, 2, 3], fusion_block("LayerAttention")),
    # configs/finetune.cfg: fine-tuned encoder (TransformerModel.v2, word-level tokenization),
    # embeddings and the bottom layer frozen
    "finetuned": ([-1], fusion_block("LastLayer")),
}
UPOS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
        "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"}
YORUBA = "Ọmọ náà lọ sí ilé ìwé ní àná ."
# Raw text with three whitespace tokens: a second space, a paragraph break, a tab and a space.
SPACED = "Ọmọ  náà lọ .\n\nÀná \t ni ."


def run(cmd, cwd=REPO, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def tagger_scores(nlp, text):
    """The morphologizer's labels, and its scores (tokens, labels) for text, as lists.

    Run here on a trained folder and, by its source, in the fresh venv on the installed wheel.
    """
    doc = nlp.make_doc(text)
    for name, component in nlp.pipeline:
        if name == "morphologizer":
            # The model's scores: component.predict would give the best label's index only.
            return list(component.labels), component.model.ops.to_numpy(component.model.predict([doc])[0]).tolist()
        doc = component(doc)


def _synthetic_corpus(path: Path, n: int = 50) -> Path:
    import random

    rng = random.Random(0)
    lexicon = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "house": "NOUN",
               "sat": "VERB", "ran": "VERB", "on": "ADP", "to": "ADP", "big": "ADJ", ".": "PUNCT"}
    nlp = spacy.blank("xx")
    db = DocBin()
    for _ in range(n):
        words = [rng.choice(list(lexicon)[:-1]) for _ in range(rng.randint(3, 8))] + ["."]
        db.add(Doc(nlp.vocab, words=words, pos=[lexicon[w] for w in words]))
    db.to_disk(path)
    return path


def _fusion_config(tmp: Path, name: str) -> Path:
    base = "finetune.cfg" if name == "finetuned" else "aif.cfg"
    config = spacy.util.load_config(REPO / "configs" / base)
    if name == "finetuned":
        config["initialize"]["after_init"]["bottom_layers"] = 1
    layers, fusion = FUSION_CONFIGS[name]
    tok2vec = config["components"]["morphologizer"]["model"]["tok2vec"]
    tok2vec["layers"] = layers
    tok2vec["width"] = 32
    tok2vec["fusion"] = fusion
    path = tmp / f"{name}.cfg"
    config.to_disk(path)
    return path


@pytest.fixture(scope="module")
def fusion_wheels(tmp_path_factory, tiny_xlmr):
    """One trained and packaged tiny pipeline per fusion: {package name: (wheel, packaged folder)}."""
    tmp = tmp_path_factory.mktemp("fusion-wheels")
    corpus = _synthetic_corpus(tmp / "train.spacy")
    wheels = {}
    for name in FUSION_CONFIGS:
        out = tmp / name
        run([sys.executable, "-m", "spacy", "train", str(_fusion_config(tmp, name)),
             "--output", str(out), "--paths.train", str(corpus), "--paths.dev", str(corpus),
             "--paths.encoder", str(tiny_xlmr), "--training.max_steps", "6", "--training.eval_frequency", "3",
             # Only the fine-tuned config warms up (the frozen ones train at a constant rate).
             *(["--training.optimizer.learn_rate.warmup_steps", "1"] if name == "finetuned" else [])])
        (tmp / "packages").mkdir(exist_ok=True)
        run([sys.executable, "-m", "spacy", "package", str(out / "model-last"), str(tmp / "packages"),
             "--name", f"fusion_{name}", "--version", "0.0.1", "--meta-path",
             str(REPO / "configs" / "package_meta.json"), "--build", "wheel", "--force"])
        (wheel,) = (tmp / "packages").glob(f"xx_fusion_{name}-0.0.1/dist/*.whl")
        wheels[f"xx_fusion_{name}"] = (wheel, out / "model-last")
    return wheels


@pytest.fixture(scope="module")
def smoke_outputs(tmp_path_factory, ud_dir):
    """`spacy project run smoke` into a temporary smoke_dir."""
    smoke_dir = tmp_path_factory.mktemp("smoke")
    run([sys.executable, "-m", "spacy", "project", "run", "smoke", ".",
         "--vars.ud_dir", str(ud_dir), "--vars.smoke_dir", str(smoke_dir)])
    return smoke_dir


def test_smoke_workflow_outputs(smoke_outputs):
    from layer_fusion.report_table import render_markdown

    metrics = json.loads((smoke_outputs / "metrics" / "zero_shot.json").read_text())
    macro = metrics["macro_low_resource"]
    assert 0.0 < macro["accuracy"] <= 1.0 and macro["ci95"][0] <= macro["accuracy"] <= macro["ci95"][1]
    table = (smoke_outputs / "metrics" / "zero_shot.md").read_text()
    assert "Yoruba" in table and table == render_markdown(metrics)
    nlp = spacy.load(smoke_outputs / "training" / "model-last")
    assert nlp.pipe_names == ["sentencizer", "transformer", "morphologizer", "attribute_ruler", "doc_cleaner"]
    doc = nlp(YORUBA)
    # Sentences found first: the transformer's windows stay inside them (sentence_spans.py).
    assert len(list(nlp(f"{YORUBA} {YORUBA}").sents)) == 2 * len(list(doc.sents))
    assert all(t.pos_ in UPOS for t in doc)
    assert doc._.trf_data is None  # doc_cleaner frees the hidden states
    # spaCy's convention for whitespace tokens; every word keeps a UPOS tag
    spaced = nlp(SPACED)
    assert [t.text for t in spaced if t.is_space] == [" ", "\n\n", "\t "]
    assert [t.pos_ for t in spaced if t.is_space] == ["SPACE"] * 3
    assert all(t.pos_ in UPOS for t in spaced if not t.is_space)


@pytest.fixture(scope="module")
def library_wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("library-wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO / "package")])
    (wheel,) = out.glob("spacy_layer_fusion-*.whl")
    return wheel


def test_library_wheel_declares_its_license_as_an_spdx_expression(library_wheel):
    # setuptools deprecates `license = {text = ...}` (removal announced for 2027-02-18);
    # the SPDX form writes License-Expression (core metadata 2.4) and no License field.
    import zipfile

    with zipfile.ZipFile(library_wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        fields = [line.partition(": ") for line in wheel.read(name).decode().split("\n\n")[0].splitlines()]
    assert ("License-Expression", ": ", "MIT") in fields
    assert not [f for f in fields if f[0] == "License"]


def test_wheels_install_into_a_fresh_venv_and_tag(tmp_path_factory, fusion_wheels, smoke_outputs, library_wheel):
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run(pip + ["torch==2.13.0"])
    (smoke_wheel,) = (smoke_outputs / "packages").glob("xx_*/dist/*.whl")
    smoke_name = smoke_wheel.name.split("-")[0]
    wheels = {**{name: wheel for name, (wheel, _) in fusion_wheels.items()}, smoke_name: smoke_wheel}
    folders = {**{name: folder for name, (_, folder) in fusion_wheels.items()},
               smoke_name: smoke_outputs / "training" / "model-last"}
    run(pip + ["--find-links", str(library_wheel.parent)] + [str(w) for w in wheels.values()])
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    script = (
        "import json, sys, spacy, layer_fusion\n"
        + inspect.getsource(tagger_scores) +
        f"out = {{'layer_fusion': layer_fusion.__file__}}\n"
        f"for name in {sorted(wheels)!r}:\n"
        "    nlp = spacy.load(name)\n"
        f"    out[name + ' scores'] = tagger_scores(nlp, {YORUBA!r})\n"
        f"    out[name] = [t.pos_ for t in nlp({YORUBA!r})]\n"
        f"    out[name + ' spaces'] = [t.pos_ for t in nlp({SPACED!r}) if t.is_space]\n"
        "out['research'] = sorted(m for m in sys.modules if m.startswith('layer_fusion.research'))\n"
        "print(json.dumps(out))\n"
    )
    result = run([str(venv / "bin" / "python"), "-c", script], cwd=elsewhere)
    tags = json.loads(result.stdout.strip().splitlines()[-1])
    assert tags.pop("layer_fusion").startswith(str(venv))  # the installed wheel, not the repo
    assert tags.pop("research") == []  # loading and tagging never touch the research tooling
    spaces = {name[: -len(" spaces")]: tags.pop(name) for name in list(tags) if name.endswith(" spaces")}
    scores = {name[: -len(" scores")]: tags.pop(name) for name in list(tags) if name.endswith(" scores")}
    for name, folder in folders.items():  # the weights that were trained, not merely some weights
        labels, expected = tagger_scores(spacy.load(folder), YORUBA)
        assert scores[name][0] == labels, name
        numpy.testing.assert_allclose(scores[name][1], expected, rtol=1e-4, atol=1e-6, err_msg=name)
    assert sorted(tags) == sorted(wheels)
    n_words = len(YORUBA.split())
    for name, pos in tags.items():
        assert len(pos) == n_words and all(p in UPOS for p in pos), (name, pos)
    # The pipelines trained from configs/finetune.cfg carry its whitespace rule into the wheel.
    assert spaces["xx_fusion_finetuned"] == spaces[smoke_name] == ["SPACE"] * 3, spaces
