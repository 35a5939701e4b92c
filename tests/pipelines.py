"""Build small fusion pipelines for tests from plain config dicts."""
from pathlib import Path
from typing import Dict, List, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from layer_fusion.fusion import fusion_block

# Layers fit the 3-layer tiny encoders; ScalarMix without layer dropout, so runs compare exactly.
FUSIONS: Dict[str, Dict] = {
    "LastLayer": {"layers": [-1], "fusion": fusion_block("LastLayer")},
    "DLFA": {"layers": [1, -1], "fusion": fusion_block("DLFA")},
    "AIF": {"layers": [1, -1], "fusion": fusion_block("AIF")},
    "AIF3": {"layers": [0, 1, -1], "fusion": fusion_block("AIF")},
    "ScalarMix": {"layers": [0, 1, 2, 3], "fusion": fusion_block("ScalarMix", layer_dropout=0.0)},
    "LayerAttention": {"layers": [0, 1, 2, 3], "fusion": fusion_block("LayerAttention")},
}

POS_LABELS = ["NOUN", "VERB", "DET", "ADP", "ADJ", "PUNCT"]


def transformer_config(model_dir: Path, architecture: str = "layer_fusion.TransformerModel.v1",
                       window: int = 128, stride: int = 96,
                       span_getter: str = "spacy-transformers.strided_spans.v1") -> Dict:
    return {
        "model": {
            "@architectures": architecture,
            "name": str(model_dir),
            "get_spans": {"@span_getters": span_getter, "window": window, "stride": stride},
            "tokenizer_config": {"use_fast": True},
            "transformer_config": {"output_hidden_states": True},
        }
    }


def listener_config(width: int, fusion: str, layers: Optional[List[int]] = None, grad_factor: float = 1.0) -> Dict:
    spec = FUSIONS[fusion]
    return {
        "@architectures": "layer_fusion.FusionListener.v1",
        "width": width,
        "layers": layers if layers is not None else spec["layers"],
        "fusion": spec["fusion"],
        "pooling": {"@layers": "reduce_mean.v1"},
        "grad_factor": grad_factor,
    }


def make_nlp(model_dir: Path, fusion: str = "LastLayer", width: int = 32, window: int = 128,
             stride: int = 96, architecture: str = "layer_fusion.TransformerModel.v1",
             layers: Optional[List[int]] = None, grad_factor: float = 1.0,
             factory: str = "transformer", span_getter: str = "spacy-transformers.strided_spans.v1") -> Language:
    """A transformer (stock ``"transformer"`` factory, or ``"fusion_transformer"``) and a
    morphologizer listening to it through a fusion."""
    nlp = spacy.blank("xx")
    nlp.add_pipe(factory, name="transformer",
                 config=transformer_config(model_dir, architecture, window, stride, span_getter))
    nlp.add_pipe(
        "morphologizer",
        config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None,
                          "tok2vec": listener_config(width, fusion, layers, grad_factor)}},
    )
    return nlp


def synthetic_examples(nlp: Language, n: int = 50):
    """n tiny tagged sentences: the tag is a function of the word, so it is learnable."""
    from spacy.training import Example

    import random

    rng = random.Random(0)
    lexicon = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "mat": "NOUN", "house": "NOUN",
               "sat": "VERB", "ran": "VERB", "on": "ADP", "to": "ADP", "big": "ADJ", "red": "ADJ", ".": "PUNCT"}
    words = list(lexicon)
    examples = []
    for _ in range(n):
        ws = [rng.choice(words) for _ in range(rng.randint(3, 9))]
        doc = Doc(nlp.vocab, words=ws)
        ref = Doc(nlp.vocab, words=ws, pos=[lexicon[w] for w in ws])
        examples.append(Example(doc, ref))
    return examples


def build_pipeline(path: Path, model_dir: Path, fusion: str, cleaner: bool = True, steps: int = 8) -> Path:
    """A tiny fusion pipeline trained for a few steps, saved to ``path``."""
    nlp = make_nlp(model_dir, fusion)
    examples = synthetic_examples(nlp, 30)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    if cleaner:
        nlp.add_pipe("doc_cleaner", config={"attrs": {"_.trf_data": None}})
    nlp.to_disk(path)
    return path


V2 = "layer_fusion.TransformerModel.v2"


def trained_fusion_transformer(model_dir: Path, factory: str = "fusion_transformer", split_words: bool = False,
                               steps: int = 3) -> Language:
    """A ``factory`` transformer component (v2 architecture) and a DLFA morphologizer,
    trained ``steps`` updates on 20 synthetic examples, seed 0."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("xx")
    config = transformer_config(model_dir, V2)
    config["model"]["split_words"] = split_words
    nlp.add_pipe(factory, name="transformer", config=config)
    nlp.add_pipe("morphologizer", config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None,
                                                    "tok2vec": listener_config(32, "DLFA")}})
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def v2_nlp(model_dir, split_words=True, learn_rate_scale=1.0, **kwargs):
    nlp = spacy.blank("xx")
    trf = transformer_config(model_dir, V2, kwargs.get("window", 128), kwargs.get("stride", 96))
    trf["model"].update(split_words=split_words, learn_rate_scale=learn_rate_scale)
    nlp.add_pipe("transformer", config=trf)
    nlp.add_pipe("morphologizer", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None,
        "tok2vec": listener_config(32, kwargs.get("fusion", "LastLayer"), kwargs.get("layers"))}})
    return nlp


def torch_transformer(nlp):
    """The Hugging Face torch module inside the pipeline's transformer component."""
    return nlp.get_pipe("transformer").model.transformer


# Registered here, once: this module is imported under one name only (tests/ is on sys.path).
@Language.component("test_all_noun")
def all_noun(doc):
    for token in doc:
        token.pos_ = "NOUN"
    return doc


def noun_nlp():
    """A pipeline of known behaviour: every token is a NOUN."""
    nlp = spacy.blank("xx")
    nlp.add_pipe("test_all_noun")
    return nlp


def copy_with_other_layers(pipeline: Path, dest: Path) -> Path:
    """A copy of a trained ``[k, -1]`` fusion pipeline whose config asks for ``[k + 1, -1]``:
    it loads, then fails on its first doc (layer_pooling's check)."""
    import re
    import shutil

    copy = Path(shutil.copytree(pipeline, dest))
    config = (copy / "config.cfg").read_text(encoding="utf-8")
    changed, n = re.subn(r"(?m)^layers = \[(\d+), -1\]$", lambda m: f"layers = [{int(m.group(1)) + 1}, -1]", config)
    assert n == 1, "the pipeline fuses no [k, -1] layers"
    (copy / "config.cfg").write_text(changed, encoding="utf-8")
    return copy
