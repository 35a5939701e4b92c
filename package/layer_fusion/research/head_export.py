"""Put a head trained on cached hidden states into a spaCy pipeline.

The pipeline is built from a training config (transformer + FusionListener +
morphologizer), initialized on the same encoder, and gets the head's fusion and
output weights. Its transformer is the unchanged encoder, so it computes what the
cache stored, in float32 instead of float16: ``check_agreement`` measures how often
the two paths agree.
"""
from pathlib import Path
from typing import Dict, List, Sequence

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from .fusion_head import FusionHead, HeadSettings
from ..conllu import Sentence
from ..layers.fusion_layer import torch_module
from .hidden_cache import UPOS_INDEX, UPOS_TAGS


def pipeline_config(base_config: Path, settings: HeadSettings, encoder: Path, width: int):
    config = spacy.util.load_config(base_config)
    config["paths"]["encoder"] = str(encoder)
    tok2vec = config["components"]["morphologizer"]["model"]["tok2vec"]
    tok2vec["layers"] = list(settings.layers)
    tok2vec["width"] = width
    tok2vec["fusion"] = {"@layers": f"layer_fusion.{settings.fusion}.v1", **settings.fusion_kwargs}
    return config.interpolate()


def export_head(head: FusionHead, settings: HeadSettings, encoder: Path, base_config: Path) -> Language:
    """A spaCy pipeline that tags with ``head`` on top of the frozen ``encoder``."""
    width = head.output.in_features
    config = pipeline_config(base_config, settings, encoder, width)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    words = list(UPOS_TAGS)  # one doc that carries every tag, so the label set is complete
    example = Example(Doc(nlp.vocab, words=words), Doc(nlp.vocab, words=words, pos=list(UPOS_TAGS)))
    nlp.initialize(lambda: [example])
    morphologizer = nlp.get_pipe("morphologizer")
    listener = morphologizer.model.get_ref("tok2vec")
    torch_module(listener.get_ref("fusion")).load_state_dict(head.fusion.state_dict())
    softmax = morphologizer.model.get_ref("softmax")
    rows = [UPOS_INDEX[label.split("POS=")[1].split("|")[0]] for label in morphologizer.labels]
    W = head.output.weight.detach().numpy()[rows]
    b = head.output.bias.detach().numpy()[rows]
    softmax.set_param("W", W.astype("float32").copy())
    softmax.set_param("b", b.astype("float32").copy())
    return nlp


def tag_sentences(nlp: Language, sentences: Sequence[Sentence], batch_size: int = 64) -> List[List[str]]:
    docs = [s.to_doc(nlp.vocab) for s in sentences]
    return [[t.pos_ for t in doc] for doc in nlp.pipe(docs, batch_size=batch_size)]


def check_agreement(nlp: Language, sentences: Sequence[Sentence], cached_predictions: numpy.ndarray) -> Dict:
    """Compare spaCy-path tags with the cache path's on the same sentences.

    Returns token agreement and both accuracies (against gold UPOS)."""
    spacy_tags = [t for tags in tag_sentences(nlp, sentences) for t in tags]
    gold = [t for s in sentences for t in s.upos]
    cached = [UPOS_TAGS[i] for i in cached_predictions]
    n = len(gold)
    return {
        "tokens": n,
        "agreement": sum(a == b for a, b in zip(spacy_tags, cached)) / n,
        "spacy_accuracy": sum(a == g for a, g in zip(spacy_tags, gold)) / n,
        "cached_accuracy": sum(a == g for a, g in zip(cached, gold)) / n,
    }
