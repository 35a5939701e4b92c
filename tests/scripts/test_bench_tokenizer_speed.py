"""scripts/bench_tokenizer_speed.py compares like with like: its retokenizing variant gives the
shipped tokenizer's tokens, and the table reads the report."""
from runners import load_script


def test_the_retokenizing_variant_tokenizes_as_the_tokenizer_does():
    bench = load_script("bench_tokenizer_speed")
    nlps = bench.tokenizers()
    for make_text, _ in bench.TEXTS.values():
        text = make_text(60) + " 'the games' and the girls' ta'"
        expected = [(t.text, t.whitespace_) for t in nlps["multilingual"](text)]
        assert [(t.text, t.whitespace_) for t in nlps["multilingual, Doc.retokenize merges"](text)] == expected
    assert [t.text for t in nlps["multilingual"]("ta' Marija")] == ["ta'", "Marija"]


def test_render_shows_each_time_and_its_growth_per_doubling():
    bench = load_script("bench_tokenizer_speed")
    report = {"repeats": 3, "rows": [
        {"text": "maltese", "characters": 1000, "seconds": {"spaCy xx": 0.5, "multilingual": 1.0}},
        {"text": "maltese", "characters": 2000, "seconds": {"spaCy xx": 1.0, "multilingual": 4.0}},
        {"text": "armenian_full_stops", "characters": 4000, "seconds": {"spaCy xx": 0.25}},
    ]}
    table = bench.render(report)
    assert "| maltese | 2,000 | 1.000 (×2.0) | 4.000 (×4.0) |" in table
    assert "| armenian_full_stops | 4,000 | 0.250 |  |" in table
