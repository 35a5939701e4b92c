"""changed_settings: the dotted keys two versions of a config differ in."""
from confection import Config

from conftest import REPO
from layer_fusion.research.config_changes import changed_settings, describe_changes, summarize_changes
from layer_fusion.research.variants import variant_config

BASE = REPO / "configs" / "finetune.cfg"
RUN = {"fusion": "DLFA", "layers": [4, -1], "bottom_layers": 4, "steps": 600, "source": "multisource",
       "split_words": True, "seed": 0}


def test_a_config_against_itself_and_its_own_text():
    config = Config().from_disk(BASE, interpolate=False)
    assert changed_settings(config, config.to_str()) == []
    assert changed_settings(BASE.read_text(encoding="utf-8"), config) == []


def test_a_grid_variant_differs_in_the_settings_it_sets():
    base = Config().from_disk(BASE, interpolate=False)
    changed = changed_settings(base, variant_config(BASE, RUN))
    assert changed == sorted([
        "components.morphologizer.model.tok2vec.fusion.@layers",
        "components.morphologizer.model.tok2vec.layers",
        "components.transformer.model.trim_offsets",  # absent from the base, set by every variant
        "initialize.after_init.bottom_layers",
        "paths.train",
        "training.eval_frequency",
        "training.max_steps",
        "training.optimizer.learn_rate.warmup_steps",
    ])


def test_added_removed_and_emptied_sections_and_uninterpolated_references():
    old = "[paths]\ntrain = \"a\"\n\n[training]\nmax_steps = ${paths.steps}\n\n[training.extra]\nx = 1\n"
    new = "[paths]\ntrain = \"a\"\n\n[training]\nmax_steps = ${paths.steps}\n\n[training.extra]\n\n[nlp]\nlang = \"xx\"\n"
    # training.extra.x removed (the section left empty), nlp.lang added; the reference is
    # compared as written, so it is no change
    assert changed_settings(old, new) == ["nlp.lang", "training.extra", "training.extra.x"]
    # summarized: a section only one config has is named once
    assert summarize_changes(old, new) == ["nlp (added)", "training.extra", "training.extra.x (removed)"]
    assert summarize_changes(new, old) == ["nlp (removed)", "training.extra", "training.extra.x (added)"]
    ruler = old + "\n[components]\n\n[components.ruler]\nfactory = \"attribute_ruler\"\nvalidate = true\n"
    assert summarize_changes(old, ruler) == ["components (added)"]
    assert summarize_changes(ruler, ruler.replace("validate = true", "validate = false")) == ["components.ruler.validate"]


def test_described_with_a_limit():
    assert describe_changes(["a", "b"]) == "a, b"
    assert describe_changes(list("abcdef")) == "a, b, c, d and 2 more"
