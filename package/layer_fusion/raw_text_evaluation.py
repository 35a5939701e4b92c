"""End-to-end scores inside the zero-shot evaluation (``evaluation.evaluate_targets``): each
set's raw-text result, with its language's word segmenter where it has one, and their
low-resource macro-averages. The scorer itself is ``raw_text``."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List

import numpy as np

from .bootstrap import macro_average
from .evaluation import TreebankResult

def raw_text_scores(nlp, sentences, target, batch_size, n_resamples, seed) -> Dict[str, Any]:
    """``raw_text`` of one treebank, and ``raw_text_segmenter`` when its language has a
    word segmenter (``segmenters.SEGMENTERS``): the result with it, or why there is none
    (``unavailable``: not installed; ``failed``: it raised while segmenting)."""
    from .raw_text import evaluate_raw_text
    from .segmenters import SEGMENTERS, segmenting_tokenizer

    out: Dict[str, Any] = {"raw_text": evaluate_raw_text(
        nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed, name=target.key
    ).to_dict()}
    if target.iso in SEGMENTERS:
        try:
            segmenter = segmenting_tokenizer(nlp.tokenizer, target.iso)
        except ImportError as err:
            out["raw_text_segmenter"] = {"unavailable": str(err)}
            return out
        tokenizer, nlp.tokenizer = nlp.tokenizer, segmenter
        try:
            scores = evaluate_raw_text(
                nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed, name=target.key
            ).to_dict()
        except Exception as err:  # an optional extra's model failing (its runtime, its input limits)
            # must not lose every set's results: the failure is recorded, and said, instead
            why = f"{type(err).__name__}: {' '.join(str(err).split())}"
            warnings.warn(f"{target.key}: the {target.iso} word segmenter failed ({why}); "
                          "its raw-text scores with it are left out", RuntimeWarning, stacklevel=2)
            out["raw_text_segmenter"] = {"segmenter": target.iso, "failed": why}
            return out
        finally:
            nlp.tokenizer = tokenizer
        out["raw_text_segmenter"] = {"segmenter": target.iso, **scores}
    return out


def raw_text_macros(low: List[TreebankResult], n_resamples: int, seed: int) -> Dict[str, Any]:
    """Macro-averages of token F1 and UPOS F1 over the low-resource sets, with the
    bootstrap of ``macro_average`` (F1 = sum 2m / sum (g + p), a ratio of sums).

    ``token_f1_spaced`` leaves out languages written without spaces between words
    (``raw_text.LANGUAGES_WITHOUT_WORD_SPACES``), whose words no language-agnostic rule finds.
    """
    from .raw_text import LANGUAGES_WITHOUT_WORD_SPACES

    def as_result(r: TreebankResult, hits: str, predicted: str, gold: str) -> TreebankResult:
        per = r.info["raw_text"]["per_sentence"]
        num = 2 * np.asarray(per[hits], dtype=np.int64)
        den = np.asarray(per[gold], dtype=np.int64) + np.asarray(per[predicted], dtype=np.int64)
        return TreebankResult(name=r.name, sent_words=den, sent_correct=num)

    scored = [r for r in low if "raw_text" in r.info]
    tokens = [as_result(r, "matched_tokens", "predicted_tokens", "gold_tokens") for r in scored]
    upos = [as_result(r, "correct_upos", "predicted_tokens", "gold_words") for r in scored]
    spaced = [t for t, r in zip(tokens, scored) if r.info.get("iso") not in LANGUAGES_WITHOUT_WORD_SPACES]
    return {
        "token_f1": macro_average(tokens, n_resamples, seed),
        "token_f1_spaced": macro_average(spaced, n_resamples, seed),
        "upos_f1": macro_average(upos, n_resamples, seed),
        "metric": "CoNLL 2018 span-aligned F1 on each sentence's raw text (layer_fusion.raw_text)",
    }
