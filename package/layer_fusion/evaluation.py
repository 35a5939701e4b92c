"""UPOS accuracy on gold word segmentation, with sentence-bootstrap confidence intervals.

One implementation, shared by ``scripts/evaluate_zero_shot.py`` and the ``layer-fusion
evaluate`` CLI. The pieces:

* ``load_targets``: the evaluation sets listed in ``configs/targets.cfg``.
* ``evaluate_sentences`` / ``evaluate_conllu``: run a pipeline on gold words, score
  ``token.pos_`` against gold UPOS, keep per-sentence counts (``TreebankResult``).
* ``bootstrap_ci``, ``macro_average``, ``genre_breakdown``, ``domain_pair``: the statistics.
* ``evaluate_targets``: all of the above over every listed treebank; JSON-ready dict.

Notation: treebank t has sentences i = 1..n_t with w_i words of which c_i are tagged
correctly. Accuracy is word-level (micro within a treebank):

    acc_t = sum_i c_i / sum_i w_i

A bootstrap replicate b draws n_t sentence indices uniformly with replacement,
I_b = (i_1..i_n), and computes acc_t^(b) = sum_{i in I_b} c_i / sum_{i in I_b} w_i.
The 95% percentile interval is [q_{alpha/2}, q_{1-alpha/2}] of {acc_t^(b)}_{b=1..B}
(numpy ``quantile``, linear interpolation), with alpha = 0.05 and B = 1000 by default.
Draws come from ``numpy.random.default_rng(seed)``, so results are reproducible.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from spacy.tokens import Doc

from .conllu import Sentence, read_conllu

# reference_dev: dev sets of high-resource reference languages, used only to choose
# between trained variants (never training data, never reported as targets).
GROUPS = ("low_resource", "high_resource_reference", "english", "reference_dev")
_TARGET_FIELDS = ("treebank", "language", "iso", "group", "file")
# Upper bound on the number of int64 indices drawn at once (~16 MB).
_MAX_DRAW = 2_000_000


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One evaluation set: UD_DIR/<treebank>/<file>."""

    key: str
    treebank: str
    language: str
    iso: str
    group: str
    file: str
    split: str = "test"

    def path(self, ud_dir: Union[str, Path]) -> Path:
        return Path(ud_dir) / self.treebank / self.file


@dataclass
class Targets:
    treebanks: Dict[str, Target]
    domain_pairs: Dict[str, Dict[str, str]] = field(default_factory=dict)
    genre_breakdown: List[str] = field(default_factory=list)
    # Named subsets of the low-resource targets whose macro-average is also reported.
    subsets: Dict[str, List[str]] = field(default_factory=dict)

    def select(self, group: Optional[str] = None) -> List[Target]:
        return [t for t in self.treebanks.values() if group is None or t.group == group]


def load_targets(path: Union[str, Path]) -> Targets:
    """Read a targets config (confection/spaCy INI, see ``configs/targets.cfg``).

    Raises ValueError naming the section and setting that is wrong.
    """
    from confection import Config

    cfg = Config().from_disk(path, interpolate=False)
    treebanks: Dict[str, Target] = {}
    for key, section in (cfg.get("treebanks") or {}).items():
        missing = [f for f in _TARGET_FIELDS if not section.get(f)]
        if missing:
            raise ValueError(f"{path}: [treebanks.{key}] lacks {', '.join(missing)}")
        if section["group"] not in GROUPS:
            raise ValueError(
                f"{path}: [treebanks.{key}] group = {section['group']!r}, expected one of {GROUPS}"
            )
        treebanks[key] = Target(
            key=key,
            treebank=str(section["treebank"]),
            language=str(section["language"]),
            iso=str(section["iso"]),
            group=str(section["group"]),
            file=str(section["file"]),
            split=str(section.get("split", "test")),
        )
    pairs: Dict[str, Dict[str, str]] = {}
    for key, section in (cfg.get("domain_pairs") or {}).items():
        for side in ("a", "b"):
            if section.get(side) not in treebanks:
                raise ValueError(
                    f"{path}: [domain_pairs.{key}] {side} = {section.get(side)!r} is not a [treebanks.*] key"
                )
        pairs[key] = {"a": section["a"], "b": section["b"], "label": str(section.get("label", key))}
    genres = list((cfg.get("genre_breakdown") or {}).get("treebanks", []))
    for key in genres:
        if key not in treebanks:
            raise ValueError(f"{path}: [genre_breakdown] treebanks lists {key!r}, not a [treebanks.*] key")
    subsets: Dict[str, List[str]] = {}
    for name, keys in (cfg.get("subsets") or {}).items():
        unknown = [k for k in keys if k not in treebanks]
        if unknown:
            raise ValueError(f"{path}: [subsets] {name} lists {unknown}, not [treebanks.*] keys")
        subsets[name] = list(keys)
    return Targets(treebanks=treebanks, domain_pairs=pairs, genre_breakdown=genres, subsets=subsets)


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


def bootstrap_accuracies(
    correct: np.ndarray, totals: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """B bootstrap replicates of sum(c) / sum(w) over sentences resampled with replacement.

    correct, totals: shape (n,), per-sentence counts. Returns shape (B,).
    Replicate b uses the b-th row of ``rng.integers(0, n, size=(B, n))``; rows are drawn in
    chunks, which consumes the generator exactly as one (B, n) draw would.
    """
    correct = np.asarray(correct, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    n = correct.shape[0]
    if n == 0:
        return np.full(n_resamples, np.nan)
    out = np.empty(n_resamples, dtype=np.float64)
    rows = max(1, _MAX_DRAW // n)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        c = correct[idx].sum(axis=1)
        w = totals[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = c / w
    return out


def _percentile_interval(samples: np.ndarray, alpha: float) -> Tuple[float, float]:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_ci(
    correct: np.ndarray,
    totals: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Tuple[float, float]:
    """Percentile bootstrap CI of the word accuracy sum(c)/sum(w), resampling sentences.

    correct[i] = c_i, totals[i] = w_i. Returns (q_{alpha/2}, q_{1-alpha/2}) of the B replicate
    accuracies (see the module docstring); (nan, nan) for an empty input.
    """
    rng = np.random.default_rng(seed)
    return _percentile_interval(bootstrap_accuracies(correct, totals, n_resamples, rng), alpha)


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


def sentence_to_doc(vocab, sentence: Sentence) -> Doc:
    """A Doc on the gold syntactic words (already NFC-normalized by the reader)."""
    return Doc(vocab, words=sentence.words, spaces=sentence.spaces)


def evaluate_sentences(
    nlp,
    sentences: Iterable[Sentence],
    batch_size: int = 64,
    n_resamples: int = 1000,
    seed: int = 0,
    name: str = "",
) -> TreebankResult:
    """Tag gold-segmented sentences with ``nlp`` and score ``token.pos_`` against gold UPOS.

    c_i = #{j : pos_j(pred) == upos_j(gold)} for sentence i; accuracy and CI as in the module
    docstring. ``seconds`` covers Doc construction and ``nlp.pipe`` only.
    """
    sentences = list(sentences)
    words = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    correct = np.zeros(len(sentences), dtype=np.int64)
    start = time.perf_counter()
    # Tag in order of length: batches then pad little (about 2.5x faster on CPU for
    # UD text); results go back to their sentence by index.
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    docs = (sentence_to_doc(nlp.vocab, sentences[i]) for i in order)
    for i, doc in zip(order, nlp.pipe(docs, batch_size=batch_size)):
        sent = sentences[i]
        if len(doc) != len(sent):
            raise ValueError(
                f"{name or 'sentence'} {sent.sent_id or i}: the pipeline changed the tokenization "
                f"({len(sent)} gold words, {len(doc)} tokens)"
            )
        correct[i] = sum(tok.pos_ == gold for tok, gold in zip(doc, sent.upos))
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
    )
    return result.compute_ci()


def evaluate_conllu(
    nlp,
    path: Union[str, Path],
    batch_size: int = 64,
    n_resamples: int = 1000,
    seed: int = 0,
    max_sentences: Optional[int] = None,
    name: Optional[str] = None,
) -> TreebankResult:
    """``evaluate_sentences`` on the first ``max_sentences`` sentences (all if None) of a file."""
    sentences = []
    for sentence in read_conllu(path):
        if max_sentences is not None and len(sentences) >= max_sentences:
            break
        sentences.append(sentence)
    return evaluate_sentences(
        nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed,
        name=name if name is not None else Path(path).name,
    )


# ---------------------------------------------------------------------------
# Aggregates
# ---------------------------------------------------------------------------


def macro_average(
    results: Sequence[TreebankResult], n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> Dict[str, Any]:
    """Unweighted mean of treebank accuracies, with a stratified sentence-bootstrap CI.

        macro = (1/T) sum_t acc_t

    CI: in replicate b, the sentences of every treebank t are resampled with replacement,
    independently and within t (strata = treebanks), giving acc_t^(b); then
    macro^(b) = (1/T) sum_t acc_t^(b), and the interval is the alpha/2, 1-alpha/2 percentiles of
    {macro^(b)}. The set of treebanks is held fixed: the interval reflects sampling of sentences
    within the listed test sets, not the choice of languages. One generator
    ``default_rng(seed)`` is used for all treebanks in the given order.
    """
    results = [r for r in results if r.sentences]
    if not results:
        return {"treebanks": [], "n_treebanks": 0, "accuracy": None, "ci95": [None, None]}
    rng = np.random.default_rng(seed)
    reps = np.stack(
        [bootstrap_accuracies(r.sent_correct, r.sent_words, n_resamples, rng) for r in results]
    )
    lo, hi = _percentile_interval(reps.mean(axis=0), alpha)
    return {
        "treebanks": [r.name for r in results],
        "n_treebanks": len(results),
        "accuracy": _finite(float(np.mean([r.accuracy for r in results]))),
        "ci95": [_finite(lo), _finite(hi)],
        "method": "unweighted mean over treebanks; CI: percentile bootstrap, sentences resampled "
        "within each treebank jointly per replicate",
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "unit": "sentence, stratified by treebank"},
    }


def genre_breakdown(
    result: TreebankResult, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> Dict[str, Dict[str, Any]]:
    """Accuracy per genre g (``# meta::genre``, else from ``GUM_<genre>_...`` sent_ids).

        acc_g = sum_{i: genre_i = g} c_i / sum_{i: genre_i = g} w_i

    with a sentence-bootstrap CI within the genre. Sentences without a genre are grouped
    under ``"unknown"``. Returns {} when the treebank records no genre.
    """
    if result.sent_genres is None:
        return {}
    genres = np.array([g if g is not None else "unknown" for g in result.sent_genres], dtype=object)
    out: Dict[str, Dict[str, Any]] = {}
    for genre in sorted(set(genres.tolist())):
        mask = genres == genre
        c, w = result.sent_correct[mask], result.sent_words[mask]
        lo, hi = bootstrap_ci(c, w, n_resamples, seed, alpha)
        out[genre] = {
            "sentences": int(mask.sum()),
            "words": int(w.sum()),
            "accuracy": _finite(float(c.sum() / w.sum()) if w.sum() else float("nan")),
            "ci95": [_finite(lo), _finite(hi)],
        }
    return out


def domain_pair(
    a: TreebankResult,
    b: TreebankResult,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Dict[str, Any]:
    """Two treebanks of one language: both accuracies and the gap acc_a - acc_b.

    The two test sets share no sentences, so the bootstrap is unpaired: replicate b resamples
    the sentences of a and of b independently, gap^(b) = acc_a^(b) - acc_b^(b), and the CI is
    the alpha/2, 1-alpha/2 percentiles of {gap^(b)}. A CI excluding 0 indicates a domain gap
    beyond sentence-sampling noise.
    """
    rng = np.random.default_rng(seed)
    rep_a = bootstrap_accuracies(a.sent_correct, a.sent_words, n_resamples, rng)
    rep_b = bootstrap_accuracies(b.sent_correct, b.sent_words, n_resamples, rng)
    lo, hi = _percentile_interval(rep_a - rep_b, alpha)
    return {
        "a": a.name,
        "b": b.name,
        "accuracy_a": _finite(a.accuracy),
        "ci95_a": [_finite(x) for x in a.ci95],
        "accuracy_b": _finite(b.accuracy),
        "ci95_b": [_finite(x) for x in b.ci95],
        "gap": _finite(a.accuracy - b.accuracy),
        "gap_ci95": [_finite(lo), _finite(hi)],
    }


# ---------------------------------------------------------------------------
# All targets
# ---------------------------------------------------------------------------


def evaluate_targets(
    nlp,
    ud_dir: Union[str, Path],
    targets: Targets,
    batch_size: int = 64,
    n_resamples: int = 1000,
    seed: int = 0,
    max_sentences: Optional[int] = None,
    progress: bool = True,
    log=None,
) -> Dict[str, Any]:
    """Evaluate ``nlp`` on every listed treebank; return a JSON-ready metrics dict.

    Keys: ``treebanks`` (key -> TreebankResult.to_dict() plus target fields), ``missing``
    (targets whose file is absent: reported and skipped), ``macro_low_resource``,
    ``gum_genres`` (one entry per [genre_breakdown] treebank), ``domain_pairs``, ``settings``.
    ``log`` is called with one line per missing file (default: wasabi warning).
    """
    from tqdm import tqdm

    if log is None:
        from wasabi import msg

        log = msg.warn
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
        result = evaluate_conllu(
            nlp, path, batch_size=batch_size, n_resamples=n_resamples, seed=seed,
            max_sentences=max_sentences, name=target.key,
        )
        result.info.update(
            treebank=target.treebank, language=target.language, iso=target.iso,
            group=target.group, split=target.split, file=f"{target.treebank}/{target.file}",
        )
        results[target.key] = result
    summary = summarize_results(results, targets, n_resamples, seed)
    summary["missing"] = missing
    summary["settings"] = {
        "batch_size": batch_size,
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
    reference_dev = [r for k, r in results.items() if targets.treebanks[k].group == "reference_dev"]
    if reference_dev:
        summary["macro_reference_dev"] = macro_average(reference_dev, n_resamples, seed)
    if targets.subsets:
        summary["macro_subsets"] = {
            name: macro_average([results[k] for k in keys if k in results], n_resamples, seed)
            for name, keys in targets.subsets.items()
        }
    return summary


def _finite(x: float) -> Optional[float]:
    """JSON has no NaN: map NaN/inf to None."""
    x = float(x)
    return x if np.isfinite(x) else None
