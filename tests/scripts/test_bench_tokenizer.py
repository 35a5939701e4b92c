"""scripts/bench_tokenizer.py: the table of disagreement kinds reads the report's counts."""
from runners import load_script


def _kinds(split, merged, other, total, top_split=()):
    kind = lambda n, top=(): {"gold_tokens": n, "stretches": n, "top": [{"error": e, "count": c} for e, c in top]}  # noqa: E731
    return {"split": kind(split, top_split), "merged": kind(merged), "other": kind(other), "all_gold_tokens": total}


def test_render_gives_each_kind_as_a_share_of_gold_tokens_under_lang_only():
    bench = load_script("bench_tokenizer")
    row = {"key": "xx_set", "group": "low_resource", "iso": "xx", "xx": 0.5, "multilingual": 0.6, "without": {},
           "disagreements": [], "disagreement_kinds": _kinds(1, 1, 1, 10)}
    report = {"metric": "token F1", "rules": [], "groups": {}, "sets": [
        row,
        {**row, "key": "th_set", "iso": "th", "segmenter": 0.858,
         "segmenter_disagreement_kinds": _kinds(64, 56, 7, 1000, [("ab => a | b", 47)])},
    ]}
    table = bench.render(report)
    assert "| th_set | 85.8 | 1,000 | 6.4 | 5.6 | 0.7 | `ab => a &#124; b` ×47 |  |" in table
    assert "| xx_set |" not in table.split("## Kinds of disagreement")[1]  # no `--lang`: not in the table
    assert "Kinds of disagreement" not in bench.render({**report, "sets": [row]})


# Three listed low-resource sets (key, treebank folder, iso, file); the last is absent.
TARGETS = "[treebanks]\n" + "".join(
    f'\n[treebanks.{key}]\ntreebank = "{folder}"\nlanguage = "Toy"\niso = "{iso}"\n'
    f'group = "low_resource"\nfile = "{file}"\n'
    for key, folder, iso, file in [("xx_web", "UD_Toy-Web", "xx", "web.conllu"),
                                   ("mt_toy", "UD_Maltese-Toy", "mt", "mt.conllu"),
                                   ("xx_gone", "UD_Toy-Gone", "xx", "gone.conllu")])


def _conllu(path, text, tokens):
    """One sentence: its # text and gold surface tokens (no space after where the text has none)."""
    rows, at = [], 0
    for i, token in enumerate(tokens, 1):
        at = text.index(token, at) + len(token)
        misc = "_" if text[at:at + 1] == " " or at == len(text) else "SpaceAfter=No"
        rows.append("\t".join([str(i), token, "_", "X", "_", "_", "_", "_", "_", misc]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# sent_id = 1\n# text = {text}\n" + "\n".join(rows) + "\n\n", encoding="utf-8")


def test_main_scores_each_set_each_rule_and_the_segmenter(tmp_path):
    """A run over hand-written sets: a web text that needs the HTML and Cyrillic rules, a
    Maltese one (the `mt` splitter under `--lang`), an extra-source set from the manifest
    and a listed set that is absent (left out). Each rule's gain is the mean F1 with every
    rule less the mean without it."""
    import json

    bench = load_script("bench_tokenizer")
    ud = tmp_path / "ud"
    _conllu(ud / "UD_Toy-Web" / "web.conllu", "<b>Увага</b> у 1991 г.", ["<b>", "Увага", "</b>", "у", "1991", "г."])
    _conllu(ud / "UD_Maltese-Toy" / "mt.conllu", "Il-kelb tal-Kunsill.", ["Il-", "kelb", "tal-", "Kunsill", "."])
    _conllu(ud / "UD_Extra-Toy" / "ex-ud-test.conllu", "Ok г. x", ["Ok", "г.", "x"])
    (ud / "MANIFEST.tsv").write_text(
        "treebank\tlanguage\tiso_code\tsplit\tfile\tprovenance\n"
        "UD_Extra-Toy\tExtra\tex\ttest\tUD_Extra-Toy/ex-ud-test.conllu\toriginal; extra source language\n"
        "UD_Extra-Toy\tExtra\tex\tdev\tUD_Extra-Toy/ex-ud-dev.conllu\toriginal; extra source language\n",
        encoding="utf-8")
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS, encoding="utf-8")
    out, md = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.md"
    bench.main(ud, output=out, markdown=md, targets=targets, top=3)

    report = json.loads(out.read_text(encoding="utf-8"))
    sets = {r["key"]: r for r in report["sets"]}
    assert list(sets) == ["xx_web", "mt_toy", "ex"]  # the absent set is left out
    web, mt, extra = sets["xx_web"], sets["mt_toy"], sets["ex"]
    assert web["multilingual"] == 1.0 and extra["multilingual"] == 1.0
    # Without the HTML rule: < b > Увага</b > у 1991 г., 3 of 8 predicted tokens right and 3
    # of 6 gold ones found, F1 = 2 * 3 / (8 + 6).
    assert abs(web["without"]["html_tags"] - 6 / 14) < 1e-9
    assert web["without"]["cyrillic_letter_abbreviations"] < 1.0 and web["xx"] < 1.0
    # Maltese: the rules keep the article on its noun; `--lang mt` splits it off.
    assert mt["multilingual"] < 1.0 and mt["segmenter"] == 1.0
    assert mt["segmenter_disagreement_kinds"]["all_gold_tokens"] == 5
    assert "segmenter" not in web
    low = report["groups"]["low_resource"]
    assert low["n_sets"] == 2 and abs(low["multilingual_spaced"] - (1.0 + mt["multilingual"]) / 2) < 1e-9
    gain = low["rule_gain_spaced"]["html_tags"]
    assert abs(gain - (1.0 - web["without"]["html_tags"]) / 2) < 1e-9 and gain > 0
    assert report["groups"]["extra_source"]["n_sets"] == 1
    assert md.read_text(encoding="utf-8") == bench.render(report)
    assert "| mt_toy | 100.0 |" in md.read_text(encoding="utf-8")
