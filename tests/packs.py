"""Sentences for fine-tuning packs in tests (``write_pack``): spaces as in UD, punctuation
attached ("dog."), a word with no space after ("Jo" "'s"), a space after the last word (UD's
default: the doc's text ends in a space, the span's does not), and accented and non-Latin
words that the tiny vocabulary splits into many pieces or unknowns."""
from layer_fusion.conllu import Sentence

SENTENCES = [
    (["The", "dog", "ran", "."], [True, True, False, True], ["DET", "NOUN", "VERB", "PUNCT"]),
    (["Jo", "'s", "cat", "sat", "on", "a", "mat", "!"], [False, True, True, True, True, True, False, False],
     ["PROPN", "PART", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]),
    (["Ọmọ", "náà", "sùn"], [True, True, False], ["NOUN", "DET", "VERB"]),
    (["Мама", "мыла", "раму", "."], [True, True, False, True], ["NOUN", "VERB", "NOUN", "PUNCT"]),
]


def sentences(n: int):
    """The first ``n`` sentences of SENTENCES repeated, with ids s0, s1, ..."""
    out = []
    for i in range(n):
        words, spaces, upos = SENTENCES[i % len(SENTENCES)]
        out.append(Sentence(sent_id=f"s{i}", text="", words=list(words), spaces=list(spaces), upos=list(upos)))
    return out
