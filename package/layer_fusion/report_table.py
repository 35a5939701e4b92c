"""Markdown tables from the metrics JSON of ``scripts/evaluate_zero_shot.py``.

``render_markdown(json.load(open("metrics/zero_shot.json")))`` regenerates the table the
script wrote, so a README or report can be rebuilt from the JSON alone. Accuracies are
percentages with one decimal; a CI is shown as ``[lo, hi]``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

_GROUP_TITLES = (
    ("low_resource", "Low-resource targets (zero-shot)"),
    ("high_resource_reference", "High-resource reference languages (zero-shot)"),
    ("english", "English (in-language)"),
)


def pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def ci(pair: Optional[Sequence[Optional[float]]]) -> str:
    # `pair is None`, not `not pair`: bootstrap intervals arrive as numpy arrays too.
    if pair is None or len(pair) == 0 or pair[0] is None or pair[1] is None:
        return "–"
    return f"[{pct(pair[0])}, {pct(pair[1])}]"


def signed_pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:+.1f}"


def signed_ci(pair: Optional[Sequence[Optional[float]]]) -> str:
    # `pair is None`, not `not pair`: bootstrap intervals arrive as numpy arrays too.
    if pair is None or len(pair) == 0 or pair[0] is None or pair[1] is None:
        return "–"
    return f"[{signed_pct(pair[0])}, {signed_pct(pair[1])}]"


def _set_name(key: str, tb: Dict[str, Any]) -> str:
    name = tb.get("treebank", key)
    split = tb.get("split", "test")
    return name if split == "test" else f"{name} ({split})"


def _table(header: Sequence[str], rows: List[Sequence[str]], align: str) -> List[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def render_markdown(metrics: Dict[str, Any]) -> str:
    """The whole report: one table per group, the macro-average, GUM genres, domain pairs."""
    lines: List[str] = ["# Zero-shot UPOS accuracy (gold words)", ""]
    model = metrics.get("model") or {}
    if model:
        name = model.get("name") or model.get("path") or ""
        version = model.get("version")
        lines.append(f"Model: `{name}`" + (f" {version}" if version else ""))
    settings = metrics.get("settings") or {}
    if settings:
        lines.append(
            f"95% CI: percentile bootstrap over sentences, {settings.get('n_resamples')} resamples, "
            f"seed {settings.get('seed')}."
            + (f" Capped at {settings['max_sentences']} sentences per set." if settings.get("max_sentences") else "")
        )
    lines.append("")
    treebanks = metrics.get("treebanks") or {}
    for group, title in _GROUP_TITLES:
        members = [(k, tb) for k, tb in treebanks.items() if tb.get("group") == group]
        if not members:
            continue
        rows = [
            [
                _set_name(k, tb), tb.get("language", ""), tb.get("iso", ""),
                f"{tb['sentences']:,}", f"{tb['words']:,}", pct(tb.get("accuracy")), ci(tb.get("ci95")),
                "–" if tb.get("words_per_second") is None else f"{tb['words_per_second']:,.0f}",
            ]
            for k, tb in members
        ]
        lines += [f"## {title}", ""]
        lines += _table(
            ["treebank", "language", "iso", "sentences", "words", "UPOS acc. %", "95% CI", "words/s"],
            rows, ["---", "---", "---", "--:", "--:", "--:", "---", "--:"],
        )
        lines.append("")
    macro = metrics.get("macro_low_resource") or {}
    if macro.get("n_treebanks"):
        lines += [
            "## Macro-average, low-resource targets",
            "",
            f"**{pct(macro.get('accuracy'))}** {ci(macro.get('ci95'))} over {macro['n_treebanks']} treebanks "
            "(unweighted mean of treebank accuracies; CI from resampling sentences within every treebank "
            "jointly).",
            "",
        ]
    lines += _raw_text_section(metrics)
    for key, genres in (metrics.get("gum_genres") or {}).items():
        if not genres:
            continue
        rows = [
            [g, f"{v['sentences']:,}", f"{v['words']:,}", pct(v.get("accuracy")), ci(v.get("ci95"))]
            for g, v in genres.items()
        ]
        lines += [f"## Per genre: {key}", ""]
        lines += _table(["genre", "sentences", "words", "UPOS acc. %", "95% CI"], rows,
                        ["---", "--:", "--:", "--:", "---"])
        lines.append("")
    pairs = metrics.get("domain_pairs") or {}
    if pairs:
        rows = []
        for key, p in pairs.items():
            if p.get("missing"):
                rows.append([p.get("label", key), p["a"], "missing", "", p["b"], "", "", "", ""])
                continue
            rows.append([
                p.get("label", key), p["a"], pct(p.get("accuracy_a")), ci(p.get("ci95_a")),
                p["b"], pct(p.get("accuracy_b")), ci(p.get("ci95_b")),
                signed_pct(p.get("gap")), signed_ci(p.get("gap_ci95")),
            ])
        lines += ["## Domain pairs (gap = a − b, points)", ""]
        lines += _table(["pair", "a", "acc. a %", "95% CI", "b", "acc. b %", "95% CI", "gap", "gap 95% CI"],
                        rows, ["---", "---", "--:", "---", "---", "--:", "---", "--:", "---"])
        lines.append("")
    missing = metrics.get("missing") or []
    if missing:
        lines += ["## Not evaluated (test file missing)", ""]
        lines += [f"- {m.get('treebank', m.get('key'))}: `{m.get('file')}`" for m in missing]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _raw_text_section(metrics: Dict[str, Any]) -> List[str]:
    """Raw text in (``raw_text.py``): token F1 and UPOS F1 per set beside gold-word accuracy."""
    treebanks = metrics.get("treebanks") or {}
    scored = [(k, tb) for k, tb in treebanks.items() if "raw_text" in tb]
    if not scored:
        return []
    rows = []
    for k, tb in scored:
        raw = tb["raw_text"]
        seg = tb.get("raw_text_segmenter") or {}
        rows.append([
            _set_name(k, tb), tb.get("iso", ""), pct(raw.get("token_f1")), ci(raw.get("token_f1_ci95")),
            pct(raw.get("upos_f1")), ci(raw.get("upos_f1_ci95")), pct(tb.get("accuracy")),
            f"{raw.get('words_in_multiword_tokens', 0):,}",
            pct((raw.get("gold_word_tags_mwt_unsplit") or {}).get("upos_f1")),
            (f"{pct(seg.get('token_f1'))} / {pct(seg.get('upos_f1'))}" if "token_f1" in seg
             else "failed" if "failed" in seg else ("not installed" if seg else "")),
        ])
    lines = [
        "## Raw text in (end to end)",
        "",
        "The pipeline tokenizes each sentence's `# text` itself; a predicted token counts when its "
        "character span equals a gold token's, and a word's tag when the word is aligned to a predicted "
        "token with that tag (CoNLL 2018). Inside a multiword token, words are aligned to the predicted "
        "tokens by their forms, so a pipeline that does not split the token into its words gets them as "
        "misses. \"MWTs unsplit\": what that alone costs, the gold-word tags scored as raw-text UPOS F1 "
        "with every surface token found and no multiword token split (`layer_fusion.raw_text`). The last "
        "column: token F1 / UPOS F1 with the language's `--lang` option (a word segmenter; for Maltese, the "
        "article split off; for English, contractions split into their words).",
        "",
    ]
    lines += _table(
        ["treebank", "iso", "token F1 %", "95% CI", "UPOS F1 %", "95% CI", "gold-word acc. %",
         "words in MWTs", "gold-word tags, MWTs unsplit %", "with --lang"],
        rows, ["---", "---", "--:", "---", "--:", "---", "--:", "--:", "--:", "---"],
    )
    lines.append("")
    macro = metrics.get("macro_low_resource_raw_text") or {}
    if macro:
        tok, spaced, upos = macro["token_f1"], macro["token_f1_spaced"], macro["upos_f1"]
        lines += [
            f"Low-resource macro-averages: token F1 **{pct(tok.get('accuracy'))}** {ci(tok.get('ci95'))} "
            f"({spaced.get('n_treebanks')} sets written with spaces between words: "
            f"**{pct(spaced.get('accuracy'))}** {ci(spaced.get('ci95'))}); UPOS F1 "
            f"**{pct(upos.get('accuracy'))}** {ci(upos.get('ci95'))}.",
            "",
        ]
    return lines
