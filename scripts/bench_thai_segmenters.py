"""Benchmark: the Thai word segmenter candidates of docs/selection_protocol.md ("The Thai word
segmenter" and its amendment) on Thai-PUD.

For each candidate: whether it is installed and segments a Thai sentence written for this
check (not UD text), its published word-level F1 on the BEST-2010 test set (the figure that
ranks the candidates), and on Thai-PUD its token F1 (CoNLL 2018 span alignment, as
``layer-fusion tag --lang th`` runs a segmenter: on the Thai runs of the text, the
pipeline's rules on the rest), its UPOS F1 with ``--pipeline``, and its speed. The Thai-PUD
figures choose nothing: Thai-PUD is a target. The protocol's pick is computed from the
published figures, installation and speed alone.

Install every candidate first (TensorFlow for OSKut and SEFR CUT; a candidate that is not
installed is listed as such):

    pip install "spacy-layer-fusion[th]" attacut tensorflow-cpu oskut sefr-cut cutkum icut kham \
        kordai-word-segmentation nokcut pythaiwordcut thai-segmenter thai-tokenizer thaibreak wordcutpy
    python scripts/bench_thai_segmenters.py ../shared/ud --pipeline training/finetuned/model-last \
        --output reports/bench/thai_segmenters.json --markdown reports/bench/thai_segmenters.md
"""

import contextlib
import importlib
import io
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import spacy
import typer
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.raw_text import evaluate_raw_text, sentence_text
from layer_fusion.segmenters import SCRIPT_RUNS, SegmentingTokenizer, ThaiSegmenter, WordSegmenter
from layer_fusion.targets import load_targets
from layer_fusion.tokenizer import multilingual_tokenizer

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # OSKut and SEFR CUT import TensorFlow
# "I like to eat fried rice with friends at the restaurant near home": the check that a
# candidate runs at all (rule 2), written for it.
PROBE = "ฉันชอบกินข้าวผัดกับเพื่อนที่ร้านอาหารใกล้บ้าน"
CURRENT_DEFAULT = "deepcut"
SPEED_FLOOR = 0.25  # of the current default's words/s, in the same run (rule 4 of the amendment)
CHUNK = 50  # Thai runs per call: batching candidates batch within a call; the time budget is checked between

SegmentMany = Callable[[List[str]], List[List[str]]]


@dataclass(frozen=True)
class Candidate:
    """project: its PyPI name; module: what it imports; load: () -> a function from texts to
    each text's words; best2010: its published word-level F1 on BEST-2010 (points) and where
    it is published, or None."""

    project: str
    module: str
    load: Callable[[], SegmentMany]
    best2010: Optional[tuple] = None
    engine: str = ""


def _one_by_one(segment: Callable[[str], List[str]]) -> SegmentMany:
    return lambda texts: [list(segment(text)) for text in texts]


def _pythainlp(engine: str) -> Callable[[], SegmentMany]:
    return lambda: _one_by_one(ThaiSegmenter(None, engine=engine).words)


def _newmm() -> SegmentMany:
    tokenizer = spacy.blank("th").tokenizer
    return _one_by_one(lambda text: [t.text for t in tokenizer(text)])


def _cutkum() -> SegmentMany:
    from cutkum.tokenizer import Cutkum

    return _one_by_one(Cutkum().tokenize)


def _attr(module: str, name: str, call: Optional[str] = None) -> Callable[[], SegmentMany]:
    """A segmenter that is ``module.name``, or ``module.name().call`` when ``call`` is given."""
    def load() -> SegmentMany:
        thing = getattr(importlib.import_module(module), name)
        return _one_by_one(getattr(thing(), call) if call else thing)

    return load


def _kordai() -> SegmentMany:
    from kordai_word_segmentation import get_tokenizer

    return _one_by_one(get_tokenizer())


def _oskut() -> SegmentMany:
    import oskut

    oskut.load_model()  # its default engine ("ws"); OSKut 1.3 has no BEST-2010 engine
    return _one_by_one(oskut.OSKut)


def _sefr(engine: str) -> Callable[[], SegmentMany]:
    def load() -> SegmentMany:
        import sefr_cut

        sefr_cut.load_model(engine=engine)  # module state: this candidate runs before the next loads
        return lambda texts: sefr_cut.tokenize(list(texts))

    return load


def _wordcutpy() -> SegmentMany:
    from wordcut import Wordcut

    return _one_by_one(Wordcut.bigthai().tokenize)


# The published figures: AttaCut's README (DeepCut and AttaCut, as the protocol first read
# them), and each package's own description on PyPI.
CANDIDATES: Dict[str, Candidate] = {
    "deepcut": Candidate("pythainlp", "pythainlp", _pythainlp("deepcut"), (93.0, "AttaCut's README, about 93")),
    "attacut": Candidate("attacut", "attacut", _pythainlp("attacut"), (91.0, "AttaCut's README")),
    "newmm (spaCy's th)": Candidate("pythainlp", "pythainlp", _newmm),
    "cutkum": Candidate("cutkum", "cutkum", _cutkum, (94.0, "its PyPI description: 10% hold-out of BEST2010")),
    "icut": Candidate("icut", "icut", _attr("icut", "segment"), engine="ICU BreakIterator"),
    "kham": Candidate("kham", "kham", _attr("kham", "segment")),
    "kordai-word-segmentation": Candidate("kordai-word-segmentation", "kordai_word_segmentation", _kordai),
    "nokcut": Candidate("nokcut", "nokcut", _attr("nokcut", "tokenize"),
                        (96.9, "its PyPI description: BEST I corpus test set")),
    "oskut": Candidate("OSKut", "oskut", _oskut, engine="ws (default)"),
    "pythaiwordcut": Candidate("pythaiwordcut", "pythaiwordcut", _attr("pythaiwordcut", "wordcut", call="segment")),
    "sefr-cut (ws1000, default)": Candidate("SEFR-CUT", "sefr_cut", _sefr("ws1000"), engine="ws1000"),
    "sefr-cut (best)": Candidate("SEFR-CUT", "sefr_cut", _sefr("best"), engine="best"),
    "thai-segmenter": Candidate("thai-segmenter", "thai_segmenter", _attr("thai_segmenter", "tokenize")),
    "thai-tokenizer": Candidate("thai-tokenizer", "thai_tokenizer", _attr("thai_tokenizer", "Tokenizer", call="split")),
    "thaibreak": Candidate("thaibreak", "thaibreak", _attr("thaibreak", "words")),
    "wordcutpy": Candidate("wordcutpy", "wordcut", _wordcutpy),
}


def thai_runs(texts: List[str]) -> List[str]:
    """The distinct runs of Thai script in ``texts``: what a segmenter sees (SCRIPT_RUNS)."""
    return list(dict.fromkeys(m.group() for text in texts for m in SCRIPT_RUNS["th"].finditer(text)))


def with_segmenter(nlp, words_of: Dict[str, List[str]]):
    """``nlp`` with its tokenizer's rules kept and the Thai runs split as ``words_of`` says."""
    rules = nlp.tokenizer.rules if isinstance(nlp.tokenizer, SegmentingTokenizer) else nlp.tokenizer
    nlp.tokenizer = SegmentingTokenizer(rules, WordSegmenter(nlp.vocab, words_of.__getitem__), SCRIPT_RUNS["th"])
    return nlp


def run_candidate(candidate: Candidate, runs: List[str], repeats: int, budget: float) -> Dict:
    """Load and probe ``candidate``, then segment ``runs`` ``repeats`` times (median seconds),
    or fewer once the passes have taken ``budget`` seconds. A first pass that exceeds
    ``budget`` is stopped: its speed is then estimated from the runs it did (by their share of
    the characters), and the set is not scored."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints a progress bar per call
            segment_many = candidate.load()
            segment_many([PROBE])
    except ImportError as err:
        if (err.name or "").split(".")[0] == candidate.module:
            return {"status": "not installed"}
        return {"status": "does not run", "error": _one_line(err)}
    except Exception as err:  # noqa: BLE001 - any failure on the probe sentence is the finding
        return {"status": "does not run", "error": _one_line(err)}
    seconds, words = [], []
    while len(seconds) < repeats and sum(seconds) < budget:  # a slow candidate gets fewer passes
        start, words = time.perf_counter(), []
        for i in range(0, len(runs), CHUNK):
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    words += segment_many(runs[i:i + CHUNK])
            except Exception as err:  # noqa: BLE001 - it ran on the probe, not on this text
                return {"status": "fails on the set", "error": _one_line(err)}
            if time.perf_counter() - start > budget and len(words) < len(runs):
                share = sum(map(len, runs[:len(words)])) / sum(map(len, runs))
                return {"status": "runs", "seconds": (time.perf_counter() - start) / share, "repeats": 0,
                        "not_scored": f"one pass would take over {budget:,.0f} s"}
        seconds.append(time.perf_counter() - start)
    if len(words) != len(runs):
        return {"status": "fails on the set", "error": f"{len(words):,} results for {len(runs):,} Thai runs"}
    words_of = {run: [w for piece in ws for w in piece.split()] for run, ws in zip(runs, words)}
    altered = sum("".join(ws) != "".join(run.split()) for run, ws in words_of.items())
    if altered:
        return {"status": "alters the text", "error": f"its words are not the text's characters in {altered:,} "
                                                      f"of {len(runs):,} Thai runs"}
    return {"status": "runs", "seconds": float(np.median(seconds)), "repeats": len(seconds), "words_of": words_of}


def _one_line(err: BaseException) -> str:
    text = _without_install_path(f"{type(err).__name__}: {err}").strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _without_install_path(text: str) -> str:
    """``text`` with the path to an environment's site-packages cut (it names the machine)."""
    return re.sub(r"(?:/[^/\s'\"]+)+/site-packages/", "site-packages/", text)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    ud_dir: Optional[Path] = typer.Argument(None, exists=True, file_okay=False, help="The UD folder (not with --render-only)"),
    pipeline: Optional[Path] = typer.Option(None, "--pipeline", exists=True,
                                            help="Also UPOS F1, tagging with this pipeline"),
    output: Path = typer.Option(REPO / "reports" / "bench" / "thai_segmenters.json", "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    targets: Path = typer.Option(REPO / "configs" / "targets.cfg", "--targets", exists=True),
    key: str = typer.Option("th_pud", "--set", help="The Thai evaluation set of --targets"),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed passes per candidate (median)"),
    budget: float = typer.Option(900, "--budget", min=1, help="Seconds of timed passes per candidate; a "
                                 "candidate whose first pass takes longer gets its speed estimated and is not scored"),
    only: Optional[List[str]] = typer.Option(None, "--only", help="These candidates only (repeatable)"),
    render_only: bool = typer.Option(False, "--render-only", help="Rewrite --markdown from the --output JSON; run nothing"),
):
    if render_only:
        if markdown is None:
            raise typer.BadParameter("--render-only writes --markdown: give it", param_hint="--markdown")
        write_text_atomic(markdown, render(json.loads(output.read_text(encoding="utf-8"))))
        msg.good(f"Wrote {markdown} from {output}")
        return
    if ud_dir is None:
        raise typer.BadParameter("the UD folder is needed to run the candidates", param_hint="UD_DIR")
    warnings.filterwarnings("ignore")  # the candidates' own deprecation notes
    listed = load_targets(targets).treebanks
    if key not in listed:
        raise typer.BadParameter(f"{key} is not a set of {targets}", param_hint="--set")
    path = listed[key].path(ud_dir)
    sentences = list(read_conllu(path))
    texts = [sentence_text(s)[0] for s in sentences]
    runs = thai_runs(texts)
    words = sum(len(s.words) for s in sentences)
    tagger = spacy.load(pipeline) if pipeline else None
    rows: Dict[str, Dict] = {}
    for name, candidate in CANDIDATES.items():
        if only and name not in only and name != CURRENT_DEFAULT:  # the speed floor needs the default
            continue
        row = run_candidate(candidate, runs, repeats, budget)
        with contextlib.suppress(PackageNotFoundError):
            row["version"] = version(candidate.project)
        if "words_of" in row:
            words_of = row.pop("words_of")
            blank = spacy.blank("xx")
            blank.tokenizer = multilingual_tokenizer(blank)
            row["token_f1"] = evaluate_raw_text(with_segmenter(blank, words_of), sentences, tokenize_only=True).token_f1
            if tagger is not None:
                row["upos_f1"] = evaluate_raw_text(with_segmenter(tagger, words_of), sentences).upos_f1
        if row["status"] == "runs":
            row["words_per_second"] = words / row["seconds"]
        rows[name] = {"project": candidate.project, "engine": candidate.engine,
                      "best2010_word_f1": candidate.best2010[0] if candidate.best2010 else None,
                      "best2010_source": candidate.best2010[1] if candidate.best2010 else None, **row}
        msg.text(f"{name:28s} {row['status']:13s}"
                 + (f" token F1 {100 * row['token_f1']:5.1f}" if "token_f1" in row else f" {row.get('not_scored', '')}")
                 + (f" {row['words_per_second']:9,.0f} words/s" if "words_per_second" in row else f" {row.get('error', '')}"),
                 )
    report = {"set": key, "path": str(Path(path).relative_to(ud_dir)), "sentences": len(sentences), "words": words,
              "thai_runs": len(runs), "probe": PROBE, "pipeline": str(pipeline) if pipeline else None,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"), "candidates": rows,
              "protocol_pick": protocol_pick(rows)}
    write_text_atomic(output, json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(report))
    msg.good(f"Protocol pick: {report['protocol_pick']['engine']}. Wrote {output}" + (f" and {markdown}" if markdown else ""))


def protocol_pick(rows: Dict[str, Dict]) -> Dict:
    """The default by the protocol (rules 2 to 4): among candidates that run and are at least
    SPEED_FLOOR of the current default's speed, the highest published BEST-2010 word F1; ties
    (0.1 points) keep the current default. Reads no Thai-PUD accuracy. ``engine`` is None
    when the current default does not run here (the speed floor is relative to it)."""
    current = rows[CURRENT_DEFAULT]
    if current["status"] != "runs":
        return {"engine": None, "reason": f"{CURRENT_DEFAULT} does not run here", "ranked_but_out": []}
    floor = SPEED_FLOOR * current["words_per_second"]
    eligible = {n: r for n, r in rows.items()
                if r["status"] == "runs" and r["best2010_word_f1"] is not None and r["words_per_second"] >= floor}
    best = max(eligible, key=lambda n: (eligible[n]["best2010_word_f1"], n == CURRENT_DEFAULT))
    if eligible[best]["best2010_word_f1"] - current["best2010_word_f1"] <= 0.1:
        best = CURRENT_DEFAULT
    ranked_but_out = sorted((n for n, r in rows.items() if n not in eligible and r["best2010_word_f1"] is not None
                             and r["best2010_word_f1"] > rows[best]["best2010_word_f1"]),
                            key=lambda n: -rows[n]["best2010_word_f1"])
    return {"engine": best, "eligible": sorted(eligible), "ranked_but_out": ranked_but_out,
            "speed_floor_words_per_second": floor}


def render(report: Dict) -> str:
    """The markdown summary of a report (regenerated from the JSON alone)."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    deepcut = report["candidates"][CURRENT_DEFAULT].get("words_per_second")
    pick = report["protocol_pick"]
    lines = ["# Thai word segmenters on " + report["set"], "",
             "The candidates of `docs/selection_protocol.md`, \"The Thai word segmenter\" and its amendment. "
             f"Generated by `scripts/bench_thai_segmenters.py`. {report['set']} is a target: its figures choose "
             "nothing. The published BEST-2010 word F1 ranks the candidates that run.", "",
             f"- Set: `{report['path']}`, {report['sentences']:,} sentences, {report['words']:,} words, "
             f"{report['thai_runs']:,} distinct runs of Thai script (what a segmenter is given).",
             f"- Runs: segments `{report['probe']}`, a sentence written for the check.",
             "- Token F1: CoNLL 2018 span alignment; the Thai runs split by the candidate, the rest by the "
             "pipeline's rules, as `--lang th` does."
             + (f" UPOS F1: tagged by `{report['pipeline']}`." if report["pipeline"] else ""),
             f"- Speed: segmenting every Thai run, model loaded, median of up to 3 timed passes (fewer for a slow "
             "candidate), one process, "
             f"OMP_NUM_THREADS={report['omp_num_threads']}; words/s counts the set's gold words.", "",
             "| candidate | PyPI project | published BEST-2010 word F1 | status | token F1 | UPOS F1 | words/s | × DeepCut |",
             "|---|---|--:|---|--:|--:|--:|--:|"]
    for name, r in report["candidates"].items():
        label = f"{name} (default, `--lang th`)" if name == CURRENT_DEFAULT else name
        project = r["project"] + (f" {r['version']}" if r.get("version") else "")
        published = f"{r['best2010_word_f1']:.1f} ({r['best2010_source']})" if r["best2010_word_f1"] is not None else "none"
        status = r["status"] + (f": `{_without_install_path(r['error'])}`" if r.get("error") else "")
        if r["status"] == "runs":
            scored = "token_f1" in r
            figures = [pct(r["token_f1"]) if scored else f"not scored: {r['not_scored']}",
                       pct(r["upos_f1"]) if "upos_f1" in r else "",
                       ("" if scored else "about ") + f"{r['words_per_second']:,.0f}",
                       f"{r['words_per_second'] / deepcut:.2f}" if deepcut else ""]
        else:
            figures = ["", "", "", ""]
        lines.append(f"| {label} | {project} | {published} | {status.replace('|', '&#124;')} | " + " | ".join(figures) + " |")
    if pick["engine"] is None:
        lines += ["", f"The protocol's pick cannot be computed here: {pick['reason']}."]
    else:
        out = [f"{n} ({report['candidates'][n]['status']})" for n in pick["ranked_but_out"]]
        lines += ["", f"By the protocol (the highest published BEST-2010 word F1 among the candidates that run "
                  f"and reach {SPEED_FLOOR:.0%} of DeepCut's speed, {pick['speed_floor_words_per_second']:,.0f} "
                  f"words/s): **{pick['engine']}**."
                  + (f" Published higher, but out by rule 2 or the speed floor: {', '.join(out)}." if out else "")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()
