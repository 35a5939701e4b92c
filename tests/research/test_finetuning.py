"""Regime b tooling: the fine-tuning pack and the plain-torch fine-tuning path.

The pack must reproduce the spaCy path (same wordpieces, same alignment, same pooled
hidden states); fine-tuning must leave the word embeddings alone and move the rest;
the job script must write every set's predictions and resume."""
import json
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from thinc.api import reduce_mean

from layer_fusion.research.finetune_pack import write_pack
from layer_fusion.research.finetuning import FinetuneModel, FinetuneSettings, PackSet, load_encoder, run
from layer_fusion.layers.layer_pooling import layer_pooling
from conftest import REPO
from packs import SENTENCES, sentences as _sentences


@pytest.fixture(scope="module")
def word_pack(e5_like, tmp_path_factory):
    """A pack tokenized word by word (``split_words``), with a second training set."""
    out = tmp_path_factory.mktemp("word_pack") / "pack"
    write_pack(out, e5_like, {"train": _sentences(16), "train_multisource": _sentences(24), "dev": _sentences(8)},
               progress=False, split_words=True)
    return out


@pytest.fixture(scope="module")
def pack(e5_like, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack") / "pack"
    write_pack(out, e5_like, {"train": _sentences(40), "dev": _sentences(8)}, progress=False)
    plan = {"dev": "dev", "variants": [{"fusion": "AIF", "layers": [1, -1], "fusion_kwargs": {}}],
            "settings": {"steps": 2, "batch_sentences": 8, "warmup_steps": 1, "eval_every": 1}}
    (out / "plan.json").write_text(json.dumps(plan))
    return out


@pytest.mark.parametrize("split_words", [False, True])
def test_pack_pools_like_the_spacy_path(split_words, pack, word_pack, e5_like):
    pack = word_pack if split_words else pack
    assert json.loads((pack / "meta.json").read_text())["split_words"] is split_words
    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "layer_fusion.TransformerModel.v2", "name": str(e5_like), "split_words": split_words,
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}}})
    nlp.initialize()
    trf = nlp.get_pipe("transformer")
    sentences = _sentences(len(SENTENCES))
    docs = list(trf.pipe([Doc(nlp.vocab, words=s.words, spaces=s.spaces) for s in sentences]))
    expected = layer_pooling(list(range(4)), 32, reduce_mean(), grad_factor=1.0).predict([d._.trf_data for d in docs])

    encoder, pad_id = load_encoder(pack)
    model = FinetuneModel(encoder, FinetuneSettings("ScalarMix", [0, 1, 2, 3])).eval()
    with torch.no_grad():
        x, mask = model.word_layers(PackSet(pack / "dev.npz").batch(list(range(len(SENTENCES))), pad_id, "cpu"))
    for j, want in enumerate(expected):
        got = x[j, : len(sentences[j].words)].numpy()  # (words, 4 layers, 32)
        numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert mask.sum() == sum(len(s.words) for s in sentences)


def test_pack_keeps_used_rows_only(pack, e5_like):
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(e5_like))
    with numpy.load(pack / "encoder.npz") as data:
        kept = data["kept_ids"]
        assert kept[int(data["pad_id"])] == tokenizer.pad_token_id
    train = PackSet(pack / "train.npz")
    first = train.input_ids[train.seq_offsets[0] : train.seq_offsets[1]]
    assert kept[first].tolist() == tokenizer(" ".join(["The", "dog", "ran"]) + ".")["input_ids"]
    assert numpy.all(numpy.diff(kept) > 0) and len(kept) < len(tokenizer)
    encoder, _ = load_encoder(pack)
    full = load_file(str(e5_like / "model.safetensors"))
    name = "embeddings.word_embeddings.weight"
    numpy.testing.assert_array_equal(encoder.state_dict()[name].numpy(), full[name][kept])


def test_finetuning_freezes_word_embeddings_and_moves_the_rest(pack):
    sets = {"train": PackSet(pack / "train.npz"), "dev": PackSet(pack / "dev.npz")}
    before, _ = load_encoder(pack)
    settings = FinetuneSettings("AIF", [1, -1], steps=3, batch_sentences=8, warmup_steps=1, eval_every=1,
                                encoder_learn_rate=1e-2)
    out = run(settings, pack, sets, "dev", log=lambda m: None)
    assert len(out["history"]["dev_accuracy"]) == 3 and out["history"]["best_step"] in (1, 2, 3)
    assert out["predictions"]["dev"].shape == sets["dev"].labels.shape
    assert "train" not in out["predictions"]
    # The returned model is not exposed; finetune() is rerun (same seed) to inspect it.
    from layer_fusion.research.finetuning import finetune

    model, pad_id, _ = finetune(settings, pack, sets["train"], sets["dev"], log=lambda m: None)
    # AIF's weights of layers 1 and -1, averaged over the dev words and features: M and 1 - M.
    with torch.no_grad():
        model.eval()
        x, mask = model.word_layers(sets["dev"].batch(list(range(sets["dev"].n_sentences)), pad_id, "cpu"))
        first = torch.sigmoid(model.head.fusion.global_branch(
            (x.sum(2) * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)).unsqueeze(1)
            + model.head.fusion.local_branch(x.sum(2)))[mask].mean()
    assert out["mean_layer_weights"] == pytest.approx([first.item(), 1 - first.item()], abs=1e-5)
    after = model.encoder.state_dict()
    for name, value in before.state_dict().items():
        if name == "embeddings.word_embeddings.weight":
            assert torch.equal(value, after[name]), name
    moved = [n for n, v in before.state_dict().items() if not torch.equal(v, after[n])]
    assert any(n.startswith("encoder.layer.") for n in moved)


def test_job_script_writes_predictions_and_resumes(pack, tmp_path):
    out = tmp_path / "runs.npz"
    cmd = [sys.executable, str(REPO / "scripts" / "finetune_encoder.py"), str(pack), str(out),
           "--seeds", "0", "--device", "cpu"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    with numpy.load(out) as data:
        info = json.loads(str(data["AIF-L1_-1-s0/info"]))
        assert data["AIF-L1_-1-s0/dev"].shape == PackSet(pack / "dev.npz").labels.shape
    assert info["settings"]["steps"] == 2 and info["device"] == "cpu"
    second = subprocess.run(cmd, capture_output=True, text=True)
    assert second.returncode == 0 and "done, skipped" in second.stdout
    assert "running it again" not in second.stdout

    # The run's name is its variant and seed; other settings, data or caps make it run again.
    capped = subprocess.run(cmd + ["--max-sentences", "3"], capture_output=True, text=True)
    assert capped.returncode == 0 and "AIF-L1_-1-s0: its results come from other --max-sentences cap" in capped.stdout
    with numpy.load(out) as data:
        assert json.loads(str(data["AIF-L1_-1-s0/info"]))["max_sentences"] == 3
        assert data["AIF-L1_-1-s0/dev"].shape == (int(PackSet(pack / "dev.npz").word_offsets[3]),)
    longer = subprocess.run(cmd + ["--steps", "3"], capture_output=True, text=True)
    assert longer.returncode == 0 and "other settings and other --max-sentences cap" in longer.stdout
    with numpy.load(out) as data:
        info = json.loads(str(data["AIF-L1_-1-s0/info"]))
        assert info["settings"]["steps"] == 3 and info["max_sentences"] is None
        assert data["AIF-L1_-1-s0/dev"].shape == PackSet(pack / "dev.npz").labels.shape
    import shutil

    other = shutil.copytree(pack, tmp_path / "other-pack")  # the same pack elsewhere: the same record
    moved = subprocess.run([*cmd[:2], str(other), *cmd[3:], "--steps", "3"], capture_output=True, text=True)
    assert moved.returncode == 0 and "done, skipped" in moved.stdout
    with open(other / "meta.json", "a") as handle:  # another pack: any byte of its files counts
        handle.write("\n")
    repacked = subprocess.run([*cmd[:2], str(other), *cmd[3:], "--steps", "3"], capture_output=True, text=True)
    assert repacked.returncode == 0 and "another pack: running it again" in repacked.stdout

    # Runs made by other training code (its digest, as another checkout records it) run again.
    from layer_fusion.atomic_write import atomic_output

    repack = [*cmd[:2], str(other), *cmd[3:], "--steps", "3"]
    with numpy.load(out) as data:
        arrays = {k: data[k] for k in data.files}
    info = json.loads(str(arrays["AIF-L1_-1-s0/info"]))
    assert len(info["code_sha256"]) == 64
    arrays["AIF-L1_-1-s0/info"] = numpy.array(json.dumps({**info, "code_sha256": "0" * 64}))
    with atomic_output(out, "wb") as handle:
        numpy.savez_compressed(handle, **arrays)
    recoded = subprocess.run(repack, capture_output=True, text=True)
    assert recoded.returncode == 0 and "other training code: running it again" in recoded.stdout
    with numpy.load(out) as data:
        assert json.loads(str(data["AIF-L1_-1-s0/info"]))["code_sha256"] == info["code_sha256"]


def test_bottom_layers_stay_frozen_and_the_named_training_set_is_used(word_pack, monkeypatch):
    sets = {name: PackSet(word_pack / f"{name}.npz") for name in ("train", "train_multisource", "dev")}
    before, _ = load_encoder(word_pack)
    settings = FinetuneSettings("DLFA", [2, -1], steps=3, batch_sentences=8, warmup_steps=1, eval_every=3,
                                encoder_learn_rate=1e-2, bottom_layers=2, train_set="train_multisource")
    from layer_fusion.research.finetuning import finetune

    model, _, history = finetune(settings, word_pack, sets["train_multisource"], sets["dev"], log=lambda m: None)
    assert history["steps"] == [3] and history["best_step"] == 3  # eval_every >= steps: the final weights
    after = model.encoder.state_dict()
    frozen = [n for n in after if n.startswith(("embeddings.", "encoder.layer.0.", "encoder.layer.1."))]
    moved = {n for n, v in before.state_dict().items() if not torch.equal(v, after[n])}
    assert frozen and not moved & set(frozen)
    assert any(n.startswith("encoder.layer.2.") for n in moved)
    from layer_fusion.research import finetuning as finetuning_module

    trained_on = []

    def recording_finetune(settings, pack, train, dev, *args, **kwargs):
        trained_on.append(train)
        return finetune(settings, pack, train, dev, *args, **kwargs)

    monkeypatch.setattr(finetuning_module, "finetune", recording_finetune)
    out = run(settings, word_pack, sets, "dev", log=lambda m: None)
    assert trained_on == [sets["train_multisource"]]  # the set settings.train_set names
    assert set(out["predictions"]) == {"dev"}
    with pytest.raises(ValueError, match="train_set 'train_elsewhere'"):
        run(FinetuneSettings("LastLayer", [-1], train_set="train_elsewhere"), word_pack, sets, "dev")


def test_the_plan_changes_whenever_the_pack_does(tmp_path):
    """project.yml's run commands (finetune, accelerator-run) depend on plan.json alone: a pack
    rebuilt from other weights or data must change it, and an unchanged one must not."""
    from layer_fusion.research.finetune_pack import write_plan
    from layer_fusion.research.run_records import folder_sha256

    (tmp_path / "encoder.npz").write_bytes(b"weights")
    (tmp_path / "dev.npz").write_bytes(b"sentences")
    plan = {"dev": "dev", "runs": []}
    written = write_plan(tmp_path, plan)
    on_disk = json.loads((tmp_path / "plan.json").read_text())
    assert on_disk == written == {**plan, "pack_sha256": folder_sha256(tmp_path, exclude=["plan.json"])}
    first = (tmp_path / "plan.json").read_bytes()
    write_plan(tmp_path, plan)
    assert (tmp_path / "plan.json").read_bytes() == first
    (tmp_path / "encoder.npz").write_bytes(b"other weights")
    write_plan(tmp_path, plan)
    assert (tmp_path / "plan.json").read_bytes() != first
