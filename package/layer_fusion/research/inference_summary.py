"""The README's inference section (scripts/update_readme.py): tagging speed against the bare
encoder (reports/bench/inference.json), memory while tagging (reports/bench/tagging_*.json),
int8's accuracy and speed per scheme (metrics/<config>_int8_<scheme>/zero_shot.json), and how
int8 tags move on other vector instructions (reports/bench/int8_cpu.json)."""
from ..quantization import DEFAULT_SCHEME, INT8_BY_DEFAULT, SCHEMES
from ..report_table import ci, pct


def inference_lines(metrics: dict, int8: dict, bench: dict, tagging: list = [], int8_cpu: dict = {},
                    int8_no_vnni: tuple = (), bench_no_vnni: dict = {}) -> list:
    """Tagging speed against the bare encoder, int8 and 2 processes (reports/bench/inference.json),
    memory tagging 10,000 lines (``tagging``: reports/bench/tagging_*.json), int8's accuracy
    per scheme (``int8``: scheme -> (metrics folder, metrics), from
    metrics/<config>_int8_<scheme>/zero_shot.json), the words an int8 scheme tags
    differently when torch, MKL and oneDNN are held to AVX2 (``int8_cpu``:
    reports/bench/int8_cpu.json), and the default scheme's accuracy on a CPU without VNNI
    (``int8_no_vnni``: (metrics folder, metrics), from
    metrics/<config>_int8_<default scheme>_no_vnni/zero_shot.json) and speed there
    (``bench_no_vnni``: reports/bench/inference_no_vnni.json, the benchmark run on such a CPU)."""
    if not bench and not int8:
        return []
    lines = ["", "### Inference: speed, int8, processes"]
    if bench:
        r = bench["ratio_to_bare_fp32"]
        lines += ["", f"From `reports/bench/inference.md`: {bench['sentences']:,} {bench['source']} "
                  f"sentences, {bench['threads']} threads, median of {bench['runs']} interleaved runs"
                  + (f"; {bench['machine']}" if bench.get("machine") else "") + ".", "",
                  "| path | sentences/s | × the bare fp32 encoder |", "|---|--:|--:|"]
        names = {"bare_fp32": "bare encoder, fp32 (all hidden states, batches of 32 sorted by wordpieces)",
                 "bare_fp32_batch64": "bare encoder, fp32, batches of 64",
                 "bare_fp32_words": "bare encoder, fp32, on the pipeline's input (each word tokenized alone)",
                 "tag_fp32": "`layer-fusion tag` path, fp32",
                 "tag_fp32_mapped_rows": "`layer-fusion tag` path, fp32, word embeddings through the memory map", "evaluate_fp32": "evaluation path (gold words), fp32",
                 "evaluate_fp32_batch32": "evaluation path, fp32, batches of 32",
                 **{f"bare_int8_{s}": f"bare encoder, int8 {s.replace('_', '-')}" for s in SCHEMES},
                 "tag_int8": f"`layer-fusion tag --int8` path ({bench.get('tag_int8_scheme', DEFAULT_SCHEME)})",
                 "tag_fp32_2proc": "`layer-fusion tag --n-process 2` (1 thread each), fp32"}
        for key, label in names.items():
            if key in r:
                lines.append(f"| {label} | {bench['sentences_per_second'][key]:.1f} | {r[key]:.2f} |")
        mem = bench.get("memory") or {}
        if mem:
            labels = {"fp32": "fp32", "int8": "`--int8`",
                      "int8, quantized while loading (no cache)": "`--int8` quantizing while loading (no cache)",
                      "int8, from the cache": "`--int8` from the int8 cache",
                      "fp32, stock format": "fp32 with the pipeline saved by stock spacy-transformers",
                      "fp32, fast tokenizer": "fp32 with the fast (Rust) tokenizer (`compact_tokenizer = false`)"}
            lines += ["", "Peak RSS of `layer-fusion tag` loading the pipeline and tagging 200 lines, each in its "
                      "own process: " + ", ".join(f"{labels.get(name, name)} {m['peak_rss_mib']:,.0f} MiB"
                                                  for name, m in mem.items()) + "."]
        padding = bench.get("padding") or {}
        if padding:
            lines += ["", f"Padding in the encoder's batches of {bench['padding_batch_size']}: "
                      + "; ".join(f"{name} {100 * p['padding']:.0f}%" for name, p in padding.items()) + "."]
    precisions = {"int8": "int8, its encoder from the int8 cache", "int8-cold": "int8, quantized while loading"}
    for run in tagging:
        for row in run["rows"]:
            precision = row.get("precision", "fp32")
            lines += ["", f"`layer-fusion tag` on {row['lines']:,} lines of {run['source']} "
                      f"({precisions.get(precision, precision)}, batches of "
                      f"{row['batch_size']}, {row['threads']} threads, loading included; `reports/bench/tagging.md`): "
                      f"{row['words_per_second']:,.0f} words/s, peak RSS {row['peak_rss_mib']:,.0f} MiB, "
                      f"late RSS {row['late_rss_mib']:,.0f} MiB."]
    if int8:
        a = metrics["macro_low_resource"]["accuracy"]
        lines += ["", "int8 accuracy and speed per scheme (`spacy project run evaluate-int8`; "
                  "`layer_fusion.quantization` describes the schemes; goals: at most 0.3 points below fp32 "
                  "and 1.5× its speed):", "",
                  "| scheme | metrics | low-resource macro [95% CI] | vs fp32 | × bare fp32 |", "|---|---|---|--:|--:|"]
        meets = []
        for scheme, (folder, q) in int8.items():
            b = q["macro_low_resource"]
            ratio = (bench.get("ratio_to_bare_fp32") or {}).get(f"bare_int8_{scheme}")
            lines.append(f"| {scheme.replace('_', '-')} | `metrics/{folder}/zero_shot.md` | {pct(b['accuracy'])} "
                         f"{ci(b['ci95'])} | {100 * (b['accuracy'] - a):+.2f} | "
                         f"{'—' if ratio is None else f'{ratio:.2f}'} |")
            if b["accuracy"] >= a - 0.003 and ratio is not None and ratio >= 1.5:
                meets.append(scheme)
        default = bench.get("tag_int8_scheme", DEFAULT_SCHEME)
        met = (f"{', '.join(s.replace('_', '-') for s in meets)} "
               f"{'meets' if len(meets) == 1 else 'meet'} both goals" if meets else "No scheme meets both goals")
        protocol = "(`docs/selection_protocol.md`, \"The `--int8` scheme\")"
        if INT8_BY_DEFAULT and default in meets:
            lines += ["", f"{met}. `--int8` runs the {default.replace('_', '-')} scheme {protocol}, and it is "
                      "the default of `layer-fusion tag` on the CPU; `--fp32` runs the fp32 encoder."]
        else:
            lines += ["", f"{met}; fp32 stays the default and `--int8` is an option, with the "
                      f"{default.replace('_', '-')} scheme {protocol}."]
        lines += _cpu_lines(int8, int8_cpu)
        lines += _no_vnni_lines(a, int8_no_vnni, bench_no_vnni, bench)
    return lines


def _no_vnni_lines(fp32_accuracy: float, int8_no_vnni: tuple, bench_no_vnni: dict, bench: dict) -> list:
    """The default scheme on a CPU without VNNI, where ONNX Runtime's x86 kernels could
    saturate 8-bit products and the weights are rounded to 7 bits instead
    (``onnx_encoder.reduce_range``): all of it, not only torch, on other instructions. Its
    accuracy (an evaluation there) and its speed against fp32 (the benchmark there), beside
    the speed of ``bench`` (reports/bench/inference.json) where that was measured with VNNI."""
    lines = []
    if int8_no_vnni:
        folder, q = int8_no_vnni
        b = q["macro_low_resource"]
        lines += ["", f"On a CPU without VNNI, where the weights are rounded to 7 bits instead "
                  f"({q['model'].get('int8_cpu', 'no VNNI')}; `metrics/{folder}/zero_shot.md`), the default scheme's "
                  f"low-resource macro-average is {pct(b['accuracy'])} {ci(b['ci95'])}, "
                  f"{100 * (b['accuracy'] - fp32_accuracy):+.2f} points from fp32."]
    ratio = (bench_no_vnni or {}).get("ratio_to_bare_fp32", {})
    scheme = (bench_no_vnni or {}).get("tag_int8_scheme", DEFAULT_SCHEME)
    keys = (f"bare_int8_{scheme}", "tag_int8", "tag_fp32")
    if all(k in ratio for k in keys):
        vnni = (bench or {}).get("ratio_to_bare_fp32", {})
        compared = "(with VNNI)" in (bench or {}).get("machine", "") and all(k in vnni for k in keys)
        gained = ""
        if compared:  # the tag path's int8 speed-up over its fp32, on each CPU
            here, there = ratio["tag_int8"] / ratio["tag_fp32"], vnni["tag_int8"] / vnni["tag_fp32"]
            gained = (" int8 gained less than with VNNI:" if here < there - 0.005 else
                      " int8 gained more than with VNNI:" if here > there + 0.005 else " int8 gained as much as with VNNI:")
        lines += ["", f"Speed on a CPU without VNNI (`reports/bench/inference_no_vnni.md`, one such CPU, median of "
                  f"{bench_no_vnni['runs']} runs):{gained} the {scheme.replace('_', '-')} scheme's bare encoder ran at "
                  f"{ratio[keys[0]]:.2f}× the bare fp32 encoder, and the `layer-fusion tag` path at "
                  f"{ratio['tag_int8']:.2f}× with int8 against {ratio['tag_fp32']:.2f}× with `--fp32`"
                  + (f" (with VNNI, above: {vnni[keys[0]]:.2f}×, {vnni['tag_int8']:.2f}× and {vnni['tag_fp32']:.2f}×)"
                     if compared else "") + "."]
    return lines


def _cpu_lines(int8: dict, int8_cpu: dict) -> list:
    """What the int8 figures were measured on, and how far tags move on other instructions."""
    kernels = sorted({q["model"]["int8_cpu"] for _, q in int8.values() if "int8_cpu" in q.get("model", {})})
    lines = []
    if kernels:
        lines += ["", f"The int8 figures above were measured on {' and '.join(kernels)} (`model.int8_cpu` in "
                  "each metrics file). int8 tags depend on the CPU's vector instructions: activations are "
                  "rounded to 8 bits, so the last-bit differences between two CPUs' kernels move some of them "
                  "across a rounding step; fp32 tags seldom notice."]
    rows = (int8_cpu or {}).get("summary", {})
    schemes = [row["scheme"] for row in rows.values() if row["profile"] == "native" and f"{row['scheme']}/avx2" in rows]
    if schemes:
        lines += ["", f"With torch, MKL and oneDNN held to AVX2 (`reports/bench/int8_cpu.md`; gold words of "
                  f"{int8_cpu['sets']} low-resource sets, {int8_cpu['words']:,} words; ONNX Runtime's kernels are "
                  "not held, they follow the CPU): "
                  + "; ".join(f"{'fp32' if scheme == 'fp32' else scheme.replace('_', '-')}: "
                              f"{100 * rows[f'{scheme}/avx2']['changed_share']:.2f}% of the words tagged "
                              f"differently, macro-average {100 * (rows[f'{scheme}/avx2']['macro_accuracy'] - rows[f'{scheme}/native']['macro_accuracy']):+.2f} points"
                              for scheme in schemes) + "."]
    return lines
