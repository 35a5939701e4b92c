"""UPOS accuracy on gold word segmentation, with sentence-bootstrap confidence intervals.

One implementation, shared by ``scripts/evaluate_zero_shot.py`` and the ``layer-fusion
evaluate`` CLI. The pieces:

* ``targets.load_targets``: the evaluation sets listed in ``configs/targets.cfg``.
* ``evaluate_sentences`` / ``evaluate_conllu``: run a pipeline on gold words, score
  ``token.pos_`` against gold UPOS, keep per-sentence counts (``TreebankResult``).
* ``bootstrap``: ``bootstrap_ci``, ``macro_average``, ``genre_breakdown``, ``domain_pair``.
* ``evaluate_targets``: all of the above over every listed treebank; JSON-ready dict;
  with ``raw_text=True`` also the end-to-end scores of ``raw_text.py`` (the pipeline
  tokenizes each sentence's text itself), and for languages with a word segmenter
  installed, the same with that segmenter (``raw_text_evaluation.py``).
"""
from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from .bootstrap import _finite, bootstrap_ci, domain_pair, genre_breakdown, macro_average
from .conllu import Sentence, read_conllu
from .length_order import length_order
from .raw_text import mwt_unsplit_upos_f1
from .sentence_spans import as_one_sentence
from .targets import Targets

if TYPE_CHECKING:
    from spacy.tokens import Doc

# Docs per nlp.pipe batch when tagging gold words in wordpiece order: 64 against 32 is in
# reports/bench/inference.md (evaluate_fp32 and evaluate_fp32_batch32).
EVAL_BATCH_SIZE = 64

# ---------------------------------------------------------------------------
# Per-treebank evaluation
# ---------------------------------------------------------------------------


@dataclass
class TreebankResult:
    """UPOS accuracy of one evaluation set, with the per-sentence counts kept.

    sent_words[i] = w_i and sent_correct[i] = c_i, in file order, so two systems evaluated on
    the same file can be compared with a paired bootstrap over sentences.
    sent_genres[i] is the genre of sentence i when the treebank records one, else None.
    """

    name: str
    sent_words: np.ndarray
    sent_correct: np.ndarray
    seconds: float = 0.0
    n_resamples: int = 1000
    seed: int = 0
    sent_genres: Optional[List[Optional[str]]] = None
    info: Dict[str, Any] = field(default_factory=dict)
    ci95: Tuple[float, float] = (float("nan"), float("nan"))
    # c_i counted over words outside multiword tokens only (for the raw-text scores; not saved).
    sent_correct_outside_mwt: Optional[np.ndarray] = field(default=None, repr=False)
    # Words the pipeline gave no UPOS at all (all of them: it has no tagger; not saved).
    words_untagged: int = field(default=0, repr=False)

    def __post_init__(self):
        self.sent_words = np.asarray(self.sent_words, dtype=np.int64)
        self.sent_correct = np.asarray(self.sent_correct, dtype=np.int64)

    @property
    def sentences(self) -> int:
        return int(self.sent_words.shape[0])

    @property
    def words(self) -> int:
        return int(self.sent_words.sum())

    @property
    def correct(self) -> int:
        return int(self.sent_correct.sum())

    @property
    def accuracy(self) -> float:
        return self.correct / self.words if self.words else float("nan")

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else float("nan")

    def compute_ci(self) -> "TreebankResult":
        self.ci95 = bootstrap_ci(self.sent_correct, self.sent_words, self.n_resamples, self.seed)
        return self

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = dict(self.info)
        data.update(
            name=self.name,
            sentences=self.sentences,
            words=self.words,
            correct=self.correct,
            accuracy=_finite(self.accuracy),
            ci95=[_finite(self.ci95[0]), _finite(self.ci95[1])],
            seconds=round(self.seconds, 4),
            words_per_second=_finite(self.words_per_second),
            bootstrap={"n_resamples": self.n_resamples, "seed": self.seed, "unit": "sentence"},
            per_sentence={
                "words": self.sent_words.tolist(),
                "correct": self.sent_correct.tolist(),
            },
        )
        if self.sent_genres is not None:
            data["per_sentence"]["genre"] = list(self.sent_genres)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TreebankResult":
        per = data["per_sentence"]
        boot = data.get("bootstrap", {})
        known = set(cls.__dataclass_fields__) | {
            "sentences", "words", "correct", "accuracy", "words_per_second", "bootstrap", "per_sentence",
        }
        ci = data.get("ci95") or [None, None]
        return cls(
            name=data["name"],
            sent_words=np.asarray(per["words"], dtype=np.int64),
            sent_correct=np.asarray(per["correct"], dtype=np.int64),
            seconds=float(data.get("seconds", 0.0)),
            n_resamples=int(boot.get("n_resamples", 1000)),
            seed=int(boot.get("seed", 0)),
            sent_genres=per.get("genre"),
            info={k: v for k, v in data.items() if k not in known},
            ci95=tuple(float("nan") if x is None else float(x) for x in ci),
        )


def tag_sentences(nlp, sentences: List[Sentence], batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tuple[int, "Doc"]]:
    """``(i, doc)``: each gold-segmented sentence tagged by ``nlp`` as the evaluations tag
    it, one UD sentence per Doc with its boundary given (a sentencizer in the pipeline splits
    nothing), in order of wordpieces so that batches pad little (``length_order.py``); ``i``
    is the sentence's index in ``sentences``."""
    order = length_order(nlp, [s.words for s in sentences])
    docs = (as_one_sentence(sentences[i].to_doc(nlp.vocab)) for i in order)
    return zip(order, nlp.pipe(docs, batch_size=batch_size))


def evaluate_sentences(
    nlp,
    sentences: Iterable[Sentence],
    batch_size: int = EVAL_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    name: str = "",
    progress: Optional[Callable[[int], None]] = None,
) -> TreebankResult:
    """Tag gold-segmented sentences with ``nlp`` and score ``token.pos_`` against gold UPOS.

    c_i = #{j : pos_j(pred) == upos_j(gold)} for sentence i; accuracy and CI as in the module
    docstring. ``seconds`` covers Doc construction and ``nlp.pipe`` only. ``progress`` is
    called with 1 as each sentence is scored (e.g. a tqdm bar's ``update``).
    """
    sentences = list(sentences)
    if not sentences:
        raise NoSentencesError(f"{name or 'evaluate_sentences'}: no sentences to evaluate")
    words = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    correct = np.zeros(len(sentences), dtype=np.int64)
    outside_mwt = np.zeros(len(sentences), dtype=np.int64)
    untagged = 0
    start = time.perf_counter()
    for i, doc in tag_sentences(nlp, sentences, batch_size):
        sent = sentences[i]
        if len(doc) != len(sent):
            raise ValueError(
                f"{name or 'sentence'} {sent.sent_id or i}: the pipeline changed the tokenization "
                f"({len(sent)} gold words, {len(doc)} tokens)"
            )
        hits = [tok.pos_ == gold for tok, gold in zip(doc, sent.upos)]
        correct[i] = sum(hits)
        untagged += sum(not tok.pos_ for tok in doc)
        outside_mwt[i] = sum(hits[a] for a, b in sent.token_words if b - a == 1) if sent.token_words else correct[i]
        if progress is not None:
            progress(1)
    seconds = time.perf_counter() - start
    genres = [s.genre for s in sentences]
    result = TreebankResult(
        name=name,
        sent_words=words,
        sent_correct=correct,
        seconds=seconds,
        n_resamples=n_resamples,
        seed=seed,
        sent_genres=genres if any(g is not None for g in genres) else None,
        sent_correct_outside_mwt=outside_mwt,
        words_untagged=untagged,
    )
    return result.compute_ci()


class NoSentencesError(ValueError):
    """A file to evaluate on holds no sentence with words (an accuracy would be NaN)."""


def check_test_files(ud_dir: Union[str, Path], targets: Targets) -> None:
    """Raise FileNotFoundError, naming ``ud_dir``, when none of the targets' test files is
    there (a wrong folder): each missing one is otherwise reported and skipped."""
    paths = [target.path(ud_dir) for target in targets.treebanks.values()]
    if paths and not any(path.is_file() for path in paths):
        example = paths[0].relative_to(ud_dir) if paths[0].is_relative_to(ud_dir) else paths[0]
        raise FileNotFoundError(
            errno.ENOENT, f"none of the {len(paths)} test files of the targets is here (e.g. {example}); "
                          "expected the folder of the UD_<Name> treebank folders", str(ud_dir))


def check_test_file_contents(ud_dir: Union[str, Path], targets: Targets, max_sentences: Optional[int] = None) -> None:
    """Read every present test file of ``targets`` as ``evaluate_targets`` will (the first
    ``max_sentences`` sentences), raising ConlluError or NoSentencesError for the first bad
    one: before the pipeline loads, not after the sets before it are tagged (minutes)."""
    for target in targets.treebanks.values():
        path = target.path(ud_dir)
        if path.is_file():
            read_sentences(path, max_sentences)


def read_sentences(path: Union[str, Path], max_sentences: Optional[int] = None) -> List[Sentence]:
    """The first ``max_sentences`` sentences (all if None) of a CoNLL-U file.

    Raises ConlluError for a malformed file and NoSentencesError for one without words."""
    sentences = []
    for sentence in read_conllu(path):
        if max_sentences is not None and len(sentences) >= max_sentences:
            break
        sentences.append(sentence)
    if not sentences:
        raise NoSentencesError(f"{path}: no sentences with words to evaluate")
    return sentences


def evaluate_conllu(
    nlp,
    path: Union[str, Path],
    batch_size: int = EVAL_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    max_sentences: Optional[int] = None,
    name: Optional[str] = None,
) -> TreebankResult:
    """``evaluate_sentences`` on the first ``max_sentences`` sentences (all if None) of a file."""
    sentences = read_sentences(path, max_sentences)
    return evaluate_sentences(
        nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed,
        name=name if name is not None else Path(path).name,
    )


# ---------------------------------------------------------------------------
# All targets
# ---------------------------------------------------------------------------


def evaluate_targets(
    nlp,
    ud_dir: Union[str, Path],
    targets: Targets,
    batch_size: int = EVAL_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    max_sentences: Optional[int] = None,
    progress: bool = True,
    log=None,
    raw_text: bool = False,
) -> Dict[str, Any]:
    """Evaluate ``nlp`` on every listed treebank; return a JSON-ready metrics dict.

    Keys: ``treebanks`` (key -> TreebankResult.to_dict() plus target fields), ``missing``
    (targets whose file is absent: reported and skipped), ``macro_low_resource``,
    ``gum_genres`` (one entry per [genre_breakdown] treebank), ``domain_pairs``, ``settings``.
    ``log`` is called with one line per missing file (default: wasabi warning).
    raw_text: also score the pipeline on each sentence's raw text (``raw_text.py``): each
    treebank gains ``raw_text`` (and ``raw_text_segmenter`` where a word segmenter for its
    language is installed); the summary gains ``macro_low_resource_raw_text``.
    """
    from tqdm import tqdm

    if log is None:
        from .line_printer import LinePrinter

        log = LinePrinter().warn
    check_test_files(ud_dir, targets)
    results: Dict[str, TreebankResult] = {}
    missing: List[Dict[str, str]] = []
    listed = list(targets.treebanks.values())
    bar = tqdm(listed, desc="treebanks", unit="tb", disable=not progress)
    for target in bar:
        bar.set_postfix_str(target.key)
        path = target.path(ud_dir)
        if not path.is_file():
            missing.append({"key": target.key, "treebank": target.treebank, "file": str(path)})
            log(f"{target.key}: test file not found, skipped: {path}")
            continue
        sentences = read_sentences(path, max_sentences)
        result = evaluate_sentences(
            nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed, name=target.key
        )
        result.info.update(
            treebank=target.treebank, language=target.language, iso=target.iso,
            group=target.group, split=target.split, file=f"{target.treebank}/{target.file}",
        )
        if raw_text:
            from .raw_text_evaluation import raw_text_scores  # it imports this module

            result.info.update(raw_text_scores(nlp, sentences, target, batch_size, n_resamples, seed))
            result.info["raw_text"]["gold_word_tags_mwt_unsplit"] = mwt_unsplit_upos_f1(
                sentences, result.sent_correct_outside_mwt, n_resamples, seed
            )
        results[target.key] = result
    summary = summarize_results(results, targets, n_resamples, seed)
    summary["missing"] = missing
    summary["settings"] = {
        "raw_text": raw_text,
        "batch_size": batch_size,
        "batch_order": "wordpieces",  # docs sorted by wordpieces before batching (length_order.py)
        "n_resamples": n_resamples,
        "seed": seed,
        "max_sentences": max_sentences,
        "ud_dir": str(ud_dir),
        "metric": "UPOS accuracy on gold syntactic words (token.pos_ vs column 4)",
    }
    return summary


def summarize_results(
    results: Dict[str, TreebankResult], targets: Targets, n_resamples: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """The metrics dict from per-treebank results, however they were computed
    (spaCy pipeline here, cached hidden states in ``cached_training``): per-treebank
    figures, the low-resource macro-average, GUM genres and the domain pairs."""
    low = [r for k, r in results.items() if targets.treebanks[k].group == "low_resource"]
    pairs: Dict[str, Any] = {}
    for key, pair in targets.domain_pairs.items():
        if pair["a"] in results and pair["b"] in results:
            pairs[key] = dict(label=pair["label"], **domain_pair(
                results[pair["a"]], results[pair["b"]], n_resamples, seed))
        else:
            pairs[key] = {"label": pair["label"], "a": pair["a"], "b": pair["b"], "missing": True}
    genres = {
        key: genre_breakdown(results[key], n_resamples, seed)
        for key in targets.genre_breakdown
        if key in results
    }
    summary = {
        "treebanks": {key: r.to_dict() for key, r in results.items()},
        "missing": [],
        "macro_low_resource": macro_average(low, n_resamples, seed),
        "gum_genres": genres,
        "domain_pairs": pairs,
    }
    if any("raw_text" in r.info for r in low):
        from .raw_text_evaluation import raw_text_macros  # it imports this module

        summary["macro_low_resource_raw_text"] = raw_text_macros(low, n_resamples, seed)
    reference_dev = [r for k, r in results.items() if targets.treebanks[k].group == "reference_dev"]
    if reference_dev:
        summary["macro_reference_dev"] = macro_average(reference_dev, n_resamples, seed)
    if targets.subsets:
        summary["macro_subsets"] = {
            name: macro_average([results[k] for k in keys if k in results], n_resamples, seed)
            for name, keys in targets.subsets.items()
        }
    return summary

