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
