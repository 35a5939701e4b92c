"""The README's raw-text paragraph (layer_fusion.research.raw_text_summary): the count of
spaced sets within 3 points of gold-word accuracy, with and without `--lang`, on metrics
written here."""
from layer_fusion.research.raw_text_summary import raw_text_lines


def _set(language, iso, accuracy, raw_upos, segmented_upos=None):
    tb = {"group": "low_resource", "language": language, "treebank": f"UD_{language}-X", "iso": iso,
          "accuracy": accuracy, "raw_text": {"token_f1": 0.9, "upos_f1": raw_upos}}
    if segmented_upos is not None:
        tb["raw_text_segmenter"] = {"segmenter": iso, "token_f1": 0.99, "upos_f1": segmented_upos}
    return tb


def _metrics(*sets):
    macro = {"accuracy": 0.5, "ci95": [0.4, 0.6]}
    return {"treebanks": {tb["treebank"]: tb for tb in sets},
            "macro_low_resource_raw_text": {"upos_f1": macro, "token_f1": macro, "token_f1_spaced": macro}}


def test_lang_count_uses_a_spaced_languages_option_and_gives_its_gold_word_accuracy():
    lines = raw_text_lines(_metrics(
        _set("Aa", "aa", 0.80, 0.79),                # within 3 points without --lang
        _set("Maltese", "mt", 0.735, 0.572, 0.72),   # within only with --lang mt
        _set("Bb", "bb", 0.60, 0.50),                # within with neither
        _set("Thai", "th", 0.70, 0.08, 0.62),        # no spaces: not counted
    ), {})
    text = "\n".join(lines)
    assert "within 3 points of gold-word accuracy on 1 of them" in text
    assert "and on 2 of them with `--lang` where the language has it" in text
    assert "Maltese token F1 90.0 → 99.0, UPOS F1 57.2 → 72.0 (73.5 on gold words)" in text
    assert "Thai token F1 90.0 → 99.0, UPOS F1 8.0 → 62.0." in text


def test_english_sets_with_lang_en_are_named_and_not_counted_among_the_targets():
    english = {"group": "english", "language": "English", "treebank": "UD_English-EWT", "split": "test",
               "iso": "en", "accuracy": 0.948, "raw_text": {"token_f1": 0.961, "upos_f1": 0.914},
               "raw_text_segmenter": {"segmenter": "en", "token_f1": 0.957, "upos_f1": 0.935}}
    without = {**english, "treebank": "UD_English-GUM", "raw_text_segmenter": {"unavailable": "x"}}
    text = "\n".join(raw_text_lines(_metrics(_set("Aa", "aa", 0.80, 0.79), english, without), {}))
    assert "UPOS F1 EWT test 91.4 → 93.5 (94.8 on gold words)." in text
    assert "GUM" not in text
    assert "on 1 of them" in text  # the targets alone


def test_no_lang_count_when_no_option_changes_it():
    text = "\n".join(raw_text_lines(_metrics(_set("Aa", "aa", 0.80, 0.79), _set("Bb", "bb", 0.60, 0.50)), {}))
    assert "on 1 of them" in text and "with `--lang` where" not in text
