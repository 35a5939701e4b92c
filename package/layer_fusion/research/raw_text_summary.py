"""The README's raw-text paragraph (scripts/update_readme.py): the shipped model's end-to-end
figures (metrics/<config>/zero_shot.json, "macro_low_resource_raw_text" and each set's
"raw_text") and the tokenizer benchmark's means (reports/bench/tokenizer.json)."""
from ..raw_text import LANGUAGES_WITHOUT_WORD_SPACES
from ..report_table import ci, pct


def raw_text_lines(metrics: dict, tokenizer_bench: dict, seeds_lead: str = "") -> list:
    """End-to-end (raw text) figures of the metrics, and the tokenizer benchmark's means.
    ``seeds_lead``: the seed mean of UPOS F1, which then leads, the metrics' figures following
    as the shipped model's."""
    raw = metrics.get("macro_low_resource_raw_text")
    if not raw:
        return []
    low = [tb for tb in metrics["treebanks"].values() if tb["group"] == "low_resource" and "raw_text" in tb]
    spaced = [tb for tb in low if tb["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES]
    gaps = [(tb["accuracy"] - tb["raw_text"]["upos_f1"], tb) for tb in spaced]
    within = sum(gap <= 0.03 for gap, _ in gaps)
    # The same count where a spaced language's `--lang` option (Maltese) is used instead.
    with_lang = sum(tb["accuracy"] - _raw_text_with_lang(tb)["upos_f1"] <= 0.03 for tb in spaced)
    worst = sorted(gaps, key=lambda g: -g[0])[:3]
    # Sets where multiword tokens alone cost more than 3 points (raw_text.mwt_unsplit_upos_f1).
    mwt_bound = [tb for gap, tb in gaps if gap > 0.03 and "gold_word_tags_mwt_unsplit" in tb["raw_text"]
                 and tb["accuracy"] - tb["raw_text"]["gold_word_tags_mwt_unsplit"]["upos_f1"] > 0.03]
    upos = f"{pct(raw['upos_f1']['accuracy'])}" if seeds_lead else f"**{pct(raw['upos_f1']['accuracy'])}**"
    lines = ["", "**Raw text in** (the pipeline tokenizes each sentence's text itself; predictions aligned to "
             "the gold by character spans, CoNLL 2018; `metrics/<config>/zero_shot.md`, \"Raw text in\"): "
             + (f"{seeds_lead}; the shipped model: " if seeds_lead else "")
             + f"low-resource UPOS F1 {upos} {ci(raw['upos_f1']['ci95'])}, "
             f"token F1 {pct(raw['token_f1']['accuracy'])} {ci(raw['token_f1']['ci95'])}; on the "
             f"{len(spaced)} sets written with spaces between words, token F1 "
             f"{pct(raw['token_f1_spaced']['accuracy'])} {ci(raw['token_f1_spaced']['ci95'])}, and UPOS F1 "
             f"within 3 points of gold-word accuracy on {within} of them (largest gaps: "
             + ", ".join(f"{tb['language']} ({tb['treebank'].split('-')[-1]}) {100 * gap:.1f}" for gap, tb in worst)
             + "; a word inside a multiword token counts only where the tokenizer splits the token into it)"
             + (f", and on {with_lang} of them with `--lang` where the language has it" if with_lang != within else "")
             + "."]
    if mwt_bound:
        lines[-1] += (f" On {len(mwt_bound)} of the other {len(spaced) - within}, multiword tokens alone cost "
                      "more than 3 points. Scored as raw text with every surface token found and none "
                      "split, the gold-word tags themselves reach only " + ", ".join(
                          f"{tb['language']} ({tb['treebank'].split('-')[-1]}) "
                          f"{pct(tb['raw_text']['gold_word_tags_mwt_unsplit']['upos_f1'])} "
                          f"({pct(tb['accuracy'])} on gold words)" for tb in mwt_bound)
                      + ".")
    segmented = [tb for tb in low if "token_f1" in (tb.get("raw_text_segmenter") or {})]
    if segmented:
        lines[-1] += " With `--lang`: " + ", ".join(
            f"{tb['language']} token F1 {pct(tb['raw_text']['token_f1'])} → "
            f"{pct(tb['raw_text_segmenter']['token_f1'])}, UPOS F1 {pct(tb['raw_text']['upos_f1'])} → "
            f"{pct(tb['raw_text_segmenter']['upos_f1'])}"
            + (f" ({pct(tb['accuracy'])} on gold words)" if tb["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES else "")
            for tb in segmented) + "."
    english = [tb for tb in metrics["treebanks"].values()
               if tb["group"] == "english" and "upos_f1" in (tb.get("raw_text_segmenter") or {})]
    if english:
        lines[-1] += (" English, with `--lang en` (contractions split into their words, as the treebanks' "
                      "multiword tokens are): UPOS F1 " + ", ".join(
                          f"{tb['treebank'].replace('UD_English-', '')} {tb['split']} "
                          f"{pct(tb['raw_text']['upos_f1'])} → {pct(tb['raw_text_segmenter']['upos_f1'])} "
                          f"({pct(tb['accuracy'])} on gold words)" for tb in english) + ".")
    groups = tokenizer_bench.get("groups") or {}
    group = groups.get("low_resource")
    if group:
        lines += ["", f"The tokenizer alone (`reports/bench/tokenizer.md`): mean token F1 over the "
                  f"{group['n_spaced']} low-resource sets written with spaces, spaCy's `xx` rules "
                  f"{pct(group['xx_spaced'])}, this project's {pct(group['multilingual_spaced'])}. Its rules were "
                  "found by reading where the `xx` rules disagree with these sets' text, so that gain is measured "
                  "on the data the rules came from"]
        others = [(groups[k], label) for k, label in (("extra_source", "treebanks that are never targets (the "
                                                       "extra-source group)"), ("english", "English sets"))
                  if k in groups]
        lines[-1] += ("; they move it from " + ", and ".join(
            f"{pct(g['xx_spaced'])} to {pct(g['multilingual_spaced'])} on the {g['n_spaced']} {label}"
            for g, label in others) if others else "") + "."
    return lines


def _raw_text_with_lang(tb: dict) -> dict:
    """A set's raw-text scores with its language's `--lang` option where it was scored, else
    with the language-agnostic rules."""
    seg = tb.get("raw_text_segmenter") or {}
    return seg if "upos_f1" in seg else tb["raw_text"]
