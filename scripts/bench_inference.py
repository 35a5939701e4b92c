"""Benchmark: tagging speed against the bare encoder, int8 against fp32, 1 against 2 processes,
and peak memory, all on the same sentences in one run.

Variants (sentences/s; each run of every variant tags the same sentence texts):

* ``bare_fp32``: the pipeline's own Hugging Face encoder, fp32, all hidden states, the
  sentence texts tokenized by its tokenizer, length-sorted batches of 32, no grad: the
  encoder's speed limit.
* ``bare_fp32_batch64``: the same in batches of 64. ``bare_fp32_words``: the bare encoder
  on the pipeline's own input (each word tokenized on its own, which gives a few more
  wordpieces than the text), batches of 32: the gap from it to ``evaluate_fp32`` is the
  pipeline's own cost.
* ``tag_fp32``: ``LineTagger`` (the ``layer-fusion tag`` path: raw text in file order, its
  default batch size and lookahead), whole pipeline, word-embedding rows read from the
  weights file as the CLI does (``layer_fusion.file_rows``); ``tag_fp32_mapped_rows``: the
  same with the rows looked up through the memory map (``spacy.load`` as it is).
* ``evaluate_fp32``: ``nlp.pipe`` on gold-word Docs in wordpiece order, batches of
  ``EVAL_BATCH_SIZE`` (the evaluation path); ``evaluate_fp32_batch32``: batches of 32.
* ``bare_int8_<scheme>``: the bare encoder after ``quantize_encoder`` with each scheme of
  ``layer_fusion.quantization.SCHEMES`` (for the ``onnx_*`` schemes, the ONNX Runtime
  session and the word-embedding lookup before it); ``tag_int8``: the ``tag`` path with ``--int8``
  (its default scheme).
* ``tag_fp32_2proc``: ``LineTagger`` with ``n_process=2`` (one thread each), against
  ``tag_fp32`` with two threads in one process.

Runs are interleaved (run 1 of every variant, then run 2 ...) and medians reported, so load
from other work spreads over the variants. Also: the share of padding in the encoder's
batches, for the bare encoder and for the pipeline's input sorted by words or by wordpieces;
the mean cosine similarity of int8 hidden states to fp32 (hidden states 4 and 6 and the last
one) per scheme; and the peak RSS of ``layer-fusion tag`` loading the pipeline and tagging
200 lines (--fp32, and --int8 with its default scheme both quantizing while loading and
reading the int8 encoder from a warm cache), each in its own process; with the fusion_transformer
component, also fp32 from a copy saved the stock way (weights inside the msgpack model file) and
fp32 with the fast (Rust) tokenizer (``compact_tokenizer = false``). ``--memory-only`` measures memory alone
and updates it in an existing report (timings kept), when the CPU is not quiet enough for
timings.

    python scripts/bench_inference.py training/finetuned/model-last \
        ../shared/ud/UD_English-EWT/en_ewt-ud-test.conllu --sentences 1000 --runs 5 \
        --output reports/bench/inference.json --markdown reports/bench/inference.md
"""
from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the 2-process variant forks

import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import spacy
import torch
import typer

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.evaluation import EVAL_BATCH_SIZE, tag_sentences
from layer_fusion.file_rows import embeddings_from_files
from layer_fusion.length_order import length_order
from layer_fusion.quantization import DEFAULT_SCHEME, SCHEMES, quantize_encoder
from layer_fusion.tagging import LineTagger

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tagging import int8_cache_envs, measure, warm_int8_cache  # noqa: E402  (a sibling script)

warnings.filterwarnings("ignore", message=".*quantiz.*deprecated")
warnings.filterwarnings("ignore", category=DeprecationWarning)
app = typer.Typer(add_completion=False)
# The shipped pipeline's DLFA reads hidden state 4 and the last one.
COSINE_LAYERS = (4, 6, -1)


def encoder(nlp):
    return nlp.get_pipe("transformer").model.layers[0].shims[0]._model


def tokenizer(nlp):
    return nlp.get_pipe("transformer").model.tokenizer


def bare_forward(
    nlp, texts: List[str], batch_size: int = 32, words: Optional[List[List[str]]] = None
) -> Callable[[], None]:
    """The bare encoder on ``texts`` (tokenized as text), or with ``words`` on the pipeline's
    own input (each word tokenized on its own); batches sorted by wordpieces, no grad."""
    tok, model = tokenizer(nlp), encoder(nlp)
    inputs = texts if words is None else words
    split = {"is_split_into_words": words is not None}
    order = sorted(range(len(inputs)), key=lambda i: len(tok(inputs[i], **split)["input_ids"]))

    def run():
        # Inference mode, as in the pipeline (thinc's PyTorchShim.predict switches to eval
        # and back to train after each call): in train mode dropout would run too.
        model.eval()
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                batch = [inputs[i] for i in order[start:start + batch_size]]
                enc = tok(batch, padding=True, truncation=True, return_tensors="pt", **split)
                model(**enc, output_hidden_states=True)

    return run


def padding_shares(nlp, sents, batch_size: int) -> Dict[str, dict]:
    """Real wordpieces and padded positions the encoder gets in batches of ``batch_size``:
    the bare encoder (text, sorted by its wordpieces), and the pipeline's input (each word on
    its own) in word order and in wordpiece order (``layer_fusion.length_order``)."""
    tok = tokenizer(nlp)
    as_text = [len(ids) for ids in tok([s.text or " ".join(s.words) for s in sents])["input_ids"]]
    as_words = [len(ids) for ids in tok([s.words for s in sents], is_split_into_words=True)["input_ids"]]

    def padded(lengths, order):
        batches = [[lengths[i] for i in order[k:k + batch_size]] for k in range(0, len(order), batch_size)]
        positions = sum(max(b) * len(b) for b in batches)
        return {"real": sum(lengths), "positions": positions, "padding": 1 - sum(lengths) / positions}

    by = lambda lengths: sorted(range(len(lengths)), key=lengths.__getitem__)  # noqa: E731
    return {
        "bare encoder, text": padded(as_text, by(as_text)),
        "pipeline, sorted by words": padded(as_words, by([len(s) for s in sents])),
        "pipeline, sorted by wordpieces": padded(as_words, length_order(nlp, [s.words for s in sents])),
    }


def hidden_states(nlp, texts: List[str], layers=(6, -1)) -> List[np.ndarray]:
    """Rows of every real (unpadded) wordpiece, per requested hidden state."""
    tok, model = tokenizer(nlp), encoder(nlp)
    out = {layer: [] for layer in layers}
    model.eval()  # no dropout: compare the models the pipelines run
    with torch.no_grad():
        for start in range(0, len(texts), 16):
            enc = tok(texts[start:start + 16], padding=True, truncation=True, return_tensors="pt")
            states = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].bool()
            for layer in layers:
                out[layer].append(states[layer][mask].numpy())
    return [np.concatenate(out[layer]) for layer in layers]


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).mean())


def stock_copy(pipeline: Path, out: Path) -> Path:
    """The pipeline saved as spacy-transformers' own component saves it (weights inside the
    msgpack ``model`` file), for the memory comparison."""
    from spacy_transformers.pipeline_component import Transformer

    # With the fast tokenizer: the stock component saves and loads only that one.
    nlp = spacy.load(pipeline, config={"components": {"transformer": {"compact_tokenizer": False}}})
    nlp.to_disk(out)
    shutil.rmtree(out / "transformer")
    Transformer.to_disk(nlp.get_pipe("transformer"), out / "transformer")
    config = out / "config.cfg"
    # The stock factory has no compact_tokenizer setting.
    text = config.read_text(encoding="utf-8").replace('factory = "fusion_transformer"', 'factory = "transformer"')
    config.write_text("".join(line for line in text.splitlines(keepends=True)
                              if not line.startswith("compact_tokenizer =")), encoding="utf-8")
    return out


def fast_tokenizer_copy(pipeline: Path, out: Path) -> Path:
    """The pipeline with ``compact_tokenizer = false``: its files linked, its config edited.
    The setting is set, not inserted: a pipeline saved by spaCy writes every factory
    setting, ``compact_tokenizer = true`` among them, and a second line is a config error."""
    from thinc.api import Config

    config = Config().from_str((pipeline / "config.cfg").read_text(encoding="utf-8"), interpolate=False)
    names = [name for name, block in config.get("components", {}).items() if block.get("factory") == "fusion_transformer"]
    if not names:
        raise ValueError(f"{pipeline / 'config.cfg'}: no fusion_transformer component to set compact_tokenizer on")
    out.mkdir(parents=True)
    for path in pipeline.iterdir():
        if path.name != "config.cfg":
            (out / path.name).symlink_to(path.resolve())
    for name in names:
        config["components"][name]["compact_tokenizer"] = False
    (out / "config.cfg").write_text(config.to_str(), encoding="utf-8")
    return out


def measure_memory(pipeline: Path, texts: List[str], threads: int) -> Dict[str, dict]:
    """Peak and late RSS and wall seconds of ``layer-fusion tag`` (load + 200 lines), each in
    its own process: fp32, --int8 quantizing while loading (cache off) and --int8 from a
    warm cache (with the bytes the cache then holds) and, when the pipeline uses the fusion_transformer component, fp32 from a
    stock-format copy and fp32 with the fast (Rust) tokenizer instead of the compact one."""
    # The console script next to this interpreter (a venv's bin/ is often not on PATH), else PATH.
    beside = Path(sys.executable).with_name("layer-fusion")
    exe = str(beside) if beside.exists() else shutil.which("layer-fusion")
    memory: Dict[str, dict] = {}
    if exe is None:
        return memory
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "lines.txt"
        src.write_text("\n".join(texts[:200]) + "\n", encoding="utf-8")
        envs = int8_cache_envs(Path(tmp) / "int8-cache")
        warm_int8_cache(exe, str(pipeline), Path(tmp), envs["int8"])
        # What one pipeline's int8 encoder takes on disk, in the user's cache (README, "tag").
        cache_bytes = sum(f.stat().st_size for f in (Path(tmp) / "int8-cache").rglob("*") if f.is_file())
        cases = [("fp32", pipeline, "fp32"), ("int8, quantized while loading (no cache)", pipeline, "int8-cold"),
                 ("int8, from the cache", pipeline, "int8")]
        if (pipeline / "transformer" / "model.safetensors").is_file():
            cases.insert(0, ("fp32, stock format", stock_copy(pipeline, Path(tmp) / "stock"), "fp32"))
            cases.insert(1, ("fp32, fast tokenizer", fast_tokenizer_copy(pipeline, Path(tmp) / "fast"), "fp32"))
        for name, path, kind in cases:
            command = [exe, "tag", str(path), str(src), "--output", str(Path(tmp) / "o"), "-q",
                       "--fp32" if kind == "fp32" else "--int8"]
            r = measure(command, threads, envs[kind])
            memory[name] = {"peak_rss_mib": r["max_rss_kib"] / 1024, "late_rss_mib": r["late_rss_kib"] / 1024,
                            "seconds": r["seconds"]}
            if kind == "int8":
                memory[name]["int8_cache_bytes"] = cache_bytes
    return memory


@app.command()
def main(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False),
    conllu: Path = typer.Argument(..., exists=True, dir_okay=False),
    sentences: int = typer.Option(1000, "--sentences", min=1),
    runs: int = typer.Option(3, "--runs", min=1),
    threads: int = typer.Option(2, "--threads", min=1),
    output: Path = typer.Option(Path("reports/bench/inference.json"), "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    memory_only: bool = typer.Option(
        False, "--memory-only", help="Measure memory only and update it in the existing --output (timings kept)"),
):
    torch.set_num_threads(threads)
    sents = [s for _, s in zip(range(sentences), read_conllu(conllu))]
    texts = [s.text or " ".join(s.words) for s in sents]
    if memory_only:
        if not output.is_file():
            raise typer.BadParameter(f"{output} not found: run the full benchmark first", param_hint="--output")
        report = json.loads(output.read_text(encoding="utf-8"))
        if report.get("machine") != machine():
            # The timings kept beside would then be another machine's.
            raise typer.BadParameter(f"{output} was measured on {report.get('machine')}, this is {machine()}: "
                                     "run the full benchmark here", param_hint="--output")
        report["memory"] = measure_memory(pipeline, texts, threads)
        report["memory_run"] = "measured separately (--memory-only) from the timings"
        write_text_atomic(output, json.dumps(report, indent=1) + "\n")
        if markdown is not None:
            write_text_atomic(markdown, render(report))
        print(render(report))
        return
    fp32 = spacy.load(pipeline)
    # As `layer-fusion tag --fp32` loads it: word-embedding rows read from the weights file.
    tagging = spacy.load(pipeline)
    embeddings_from_files(tagging)
    int8 = {}
    for scheme in SCHEMES:
        int8[scheme] = spacy.load(pipeline)
        quantize_encoder(int8[scheme], scheme=scheme)

    def tag(nlp, n_process=1):
        def run():
            n_threads = torch.get_num_threads()
            if n_process > 1:
                torch.set_num_threads(max(1, threads // n_process))  # the workers inherit it
            try:
                for _ in LineTagger(nlp, n_process=n_process).tag(texts):
                    pass
            finally:
                torch.set_num_threads(n_threads)
        return run

    def evaluate(nlp, batch_size=EVAL_BATCH_SIZE):
        def run():  # the evaluation's tagging, without the scoring
            for _ in tag_sentences(nlp, sents, batch_size):
                pass
        return run

    variants: Dict[str, Callable[[], None]] = {
        "bare_fp32": bare_forward(fp32, texts),
        "bare_fp32_batch64": bare_forward(fp32, texts, batch_size=64),
        "bare_fp32_words": bare_forward(fp32, texts, words=[s.words for s in sents]),
        "tag_fp32": tag(tagging),
        "tag_fp32_mapped_rows": tag(fp32),
        "evaluate_fp32": evaluate(fp32),
        "evaluate_fp32_batch32": evaluate(fp32, batch_size=32),
        **{f"bare_int8_{scheme}": bare_forward(nlp, texts) for scheme, nlp in int8.items()},
        "tag_int8": tag(int8[DEFAULT_SCHEME]),
        "tag_fp32_2proc": tag(tagging, n_process=2),
    }
    seconds: Dict[str, List[float]] = {name: [] for name in variants}
    for run in range(runs):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
            print(f"run {run + 1} {name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    rate = {name: len(texts) / s for name, s in median.items()}
    sample = texts[:200]
    reference = hidden_states(fp32, sample, layers=COSINE_LAYERS)
    cosine = {}
    for name, nlp in int8.items():
        states = hidden_states(nlp, sample, layers=COSINE_LAYERS)
        cosine[name] = {str(k): mean_cosine(a, b) for k, a, b in zip(COSINE_LAYERS, reference, states)}
    memory = measure_memory(pipeline, texts, threads)
    report = {
        "pipeline": str(pipeline),
        "sentences": len(texts),
        "source": str(conllu.name),
        "runs": runs,
        "threads": threads,
        "machine": machine(),
        "seconds": seconds,
        "median_seconds": median,
        "sentences_per_second": rate,
        "ratio_to_bare_fp32": {name: rate[name] / rate["bare_fp32"] for name in rate},
        "cosine_to_fp32": cosine,
        "padding_batch_size": EVAL_BATCH_SIZE,
        "padding": padding_shares(fp32, sents, EVAL_BATCH_SIZE),
        "tag_int8_scheme": DEFAULT_SCHEME,
        "memory": memory,
    }
    write_text_atomic(output, json.dumps(report, indent=1) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(report))
    print(render(report))


def machine() -> str:
    """Cores, torch, and ONNX Runtime with whether the CPU has VNNI (its int8 kernels use it)."""
    text = f"{os.cpu_count()} cores ({platform.machine()}), torch {torch.__version__}"
    try:
        import onnxruntime
    except ImportError:
        return text
    from layer_fusion.onnx_encoder import cpu_has_vnni

    return text + f", onnxruntime {onnxruntime.__version__} ({'with' if cpu_has_vnni() else 'without'} VNNI)"


def render(report: dict) -> str:
    lines = ["# Inference benchmark", "",
             f"`{report['pipeline']}`, {report['sentences']} sentences of {report['source']}, "
             f"{report['threads']} threads, median of {report['runs']} interleaved runs; {report['machine']}. "
             "Generated by `scripts/bench_inference.py`.", "",
             "| variant | median s | sentences/s | × bare fp32 |", "|---|--:|--:|--:|"]
    for name, s in report["median_seconds"].items():
        lines.append(f"| {name} | {s:.1f} | {report['sentences_per_second'][name]:.1f} | "
                     f"{report['ratio_to_bare_fp32'][name]:.2f} |")
    if report.get("padding"):
        lines += ["", f"What the encoder is given in batches of {report['padding_batch_size']} (the wordpieces "
                  "of the sentences, and the positions of the padded batches):", "",
                  "| input | wordpieces | padded positions | padding |", "|---|--:|--:|--:|"]
        for name, p in report["padding"].items():
            lines.append(f"| {name} | {p['real']:,} | {p['positions']:,} | {100 * p['padding']:.0f}% |")
    if report.get("tag_int8_scheme"):
        lines += ["", f"`tag_int8` uses the `--int8` default scheme, `{report['tag_int8_scheme']}`."]
    layers = list(next(iter(report["cosine_to_fp32"].values())))
    lines += ["", "Mean cosine similarity of int8 hidden states to fp32 (200 sentences, every wordpiece, both "
              "encoders in inference mode):", "",
              "| scheme | " + " | ".join("last" if k == "-1" else f"hidden state {k}" for k in layers) + " |",
              "|---|" + "--:|" * len(layers)]
    for scheme, c in report["cosine_to_fp32"].items():
        lines.append(f"| {scheme} | " + " | ".join(f"{c[k]:.4f}" for k in layers) + " |")
    if report["memory"]:
        lines += ["", "`layer-fusion tag` loading the pipeline and tagging 200 lines, each in its own process"
                  + (f" ({report['memory_run']})" if report.get("memory_run") else "") + ":", "",
                  "| encoder | peak RSS (MiB) | late RSS (MiB) | seconds |", "|---|--:|--:|--:|"]
        for name, m in report["memory"].items():
            seconds = f"{m['seconds']:.1f}" if "seconds" in m else ""
            lines.append(f"| {name} | {m['peak_rss_mib']:,.0f} | {m['late_rss_mib']:,.0f} | {seconds} |")
        cached = [m["int8_cache_bytes"] for m in report["memory"].values() if "int8_cache_bytes" in m]
        if cached:
            lines += ["", f"The int8 cache holds {cached[0]:,} bytes ({cached[0] / 1e6:.1f} MB) for this pipeline."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()
