"""`--lang mt`: the Maltese article (and prepositions fused with it) split from its word, on
sentences written here from the grammar's forms; the split checked against spaCy's own
`Doc.retokenize` split; the pipeline's rules (special cases, norms) kept."""
import pytest
import spacy

from layer_fusion.maltese_articles import article_end, split_articles
from layer_fusion.segmenters import make_segmenter, segmenting_tokenizer
from layer_fusion.tokenizer import multilingual_tokenizer


@pytest.mark.parametrize("text,words", [
    ("Il-kelb rqad.", ["Il-", "kelb", "rqad", "."]),
    ("Rajt l-ajru", ["Rajt", "l-", "ajru"]),
    # sun letters: the consonant written on both sides of the hyphen
    ("id-dar u ix-xemx u iż-żiemel", ["id-", "dar", "u", "ix-", "xemx", "u", "iż-", "żiemel"]),
    ("IS-SENA", ["IS-", "SENA"]),
    ("Id-Dar", ["Id-", "Dar"]),
    # prepositions fused with the article
    ("tal-Kunsill fil-belt fl-2010", ["tal-", "Kunsill", "fil-", "belt", "fl-", "2010"]),
    ("lill-Melita għall-Ewropa mill-Italja bħall-oħrajn", ["lill-", "Melita", "għall-", "Ewropa", "mill-",
                                                           "Italja", "bħall-", "oħrajn"]),
    ("fid-dinja tat-tifel għat-tfal bil-karozza", ["fid-", "dinja", "tat-", "tifel", "għat-", "tfal", "bil-", "karozza"]),
    ("lit-tifel bħat-tifel mit-triq ġol-belt mal-ħbieb sal-aħħar bl-ilma",
     ["lit-", "tifel", "bħat-", "tifel", "mit-", "triq", "ġol-", "belt", "mal-", "ħbieb", "sal-", "aħħar", "bl-", "ilma"]),
    # every sun letter
    ("iċ-ċavetta in-nar ir-raġel iz-zokkor", ["iċ-", "ċavetta", "in-", "nar", "ir-", "raġel", "iz-", "zokkor"]),
    # before a number in digits: the spoken number's first consonant, after a vowel or preposition
    ("fit-2 ta' Ottubru, is-16", ["fit-", "2", "ta'", "Ottubru", ",", "is-", "16"]),
    # decomposed letters, a Unicode hyphen
    ("iz\u0307-z\u0307iemel g\u0307ol-belt il\u2011kelb",
     ["iz\u0307-", "z\u0307iemel", "g\u0307ol-", "belt", "il\u2011", "kelb"]),
    # not articles: no doubled sun letter, no vowel before a digit, not a form of the article
    # (lil-, mil-, għal-: these end in l and double it), nothing after the hyphen
    ("T-shirt x-ray Suid-Afrika e-mail T-90", ["T-shirt", "x-ray", "Suid-Afrika", "e-mail", "T-90"]),
    ("lil-kelb mil-belt għal-kelb bħal-ħbieb kapital-xejn il-",
     ["lil-kelb", "mil-belt", "għal-kelb", "bħal-ħbieb", "kapital-xejn", "il-"]),
])
def test_articles_are_split_from_their_word(text, words):
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, "mt")
    doc = nlp(text)
    assert doc.text == text
    assert [t.text for t in doc] == words


@pytest.mark.parametrize("text,start,end", [
    ("il-kelb", 0, 3), ("l-ajru", 0, 2), ("mar tal-Kunsill", 4, 8), ("għall-Ewropa", 0, 6), ("mit-triq", 0, 4),
    ("(il-kelb)", 1, 4), ("'il-kelb", 1, 4),
    ("il-", 0, 0), ("kelb", 0, 0), ("it-dar", 0, 0), ("ta-kelb", 0, 0), ("_l-x", 0, 0),
    ("xil-kelb", 1, 0), ("x-il-kelb", 2, 0), ("5il-kelb", 1, 0), ("e\u0301il-kelb", 2, 0),  # not at a word's start
])
def test_article_end(text, start, end):
    assert article_end(text, start) == end


TEXT = "Il-kelb  tal-Kunsill\nmar fid-dar,\tl-ajru (fl-2010) mill-Italja  T-shirt"


def test_split_equals_spacys_retokenize_split_over_the_multilingual_rules():
    """The multilingual rules keep `il-kelb` whole: the article is cut from it."""
    rules = multilingual_tokenizer(spacy.blank("xx"))
    ours = split_articles(rules(TEXT))

    reference = rules(TEXT)
    cuts = {t.i: article_end(TEXT, t.idx) - t.idx for t in reference if article_end(TEXT, t.idx)}
    assert len(cuts) == 6
    with reference.retokenize() as retokenizer:
        for i, cut in cuts.items():
            token = reference[i]
            retokenizer.split(token, [token.text[:cut], token.text[cut:]], heads=[(token, 1), token.head])
    assert ours.text == reference.text == TEXT
    assert [(t.text, t.whitespace_) for t in ours] == [(t.text, t.whitespace_) for t in reference]
    assert "T-shirt" in [t.text for t in ours]


def test_over_rules_that_split_hyphens_the_article_is_joined_to_its_hyphen():
    """spaCy's `xx` rules split `il-kelb` into `il` `-` `kelb` (but keep `fl-2010`)."""
    rules = spacy.blank("xx").tokenizer
    assert [t.text for t in rules("Il-kelb fl-2010")] == ["Il", "-", "kelb", "fl-2010"]
    ours = split_articles(rules(TEXT))
    assert ours.text == TEXT
    assert [t.text for t in ours if not t.is_space] == [
        "Il-", "kelb", "tal-", "Kunsill", "mar", "fid-", "dar", ",", "l-", "ajru", "(", "fl-", "2010", ")",
        "mill-", "Italja", "T", "-", "shirt"]
    assert [t.whitespace_ for t in ours][:3] == ["", " ", ""]  # "Il-" "kelb" " " (a space token)


def test_the_pipelines_rules_and_their_norms_are_kept():
    """The splitter refines the rules' tokens: a special case of the pipeline (with its
    norms) holds under `--lang mt`, beside a split article."""
    nlp = spacy.blank("xx")
    rules = multilingual_tokenizer(nlp)
    rules.add_special_case("gonna", [{"ORTH": "gon", "NORM": "going"}, {"ORTH": "na", "NORM": "to"}])
    nlp.tokenizer = segmenting_tokenizer(rules, "mt")
    doc = nlp("gonna il-kelb")
    assert [(t.text, t.norm_) for t in doc] == [("gon", "going"), ("na", "to"), ("il-", "il-"), ("kelb", "kelb")]
    # a token the article is cut from loses its exception norm: its pieces have their own
    rules.add_special_case("il-qattus", [{"ORTH": "il-qattus", "NORM": "the cat"}])
    assert [(t.text, t.norm_) for t in nlp("il-qattus")] == [("il-", "il-"), ("qattus", "qattus")]


def test_without_articles_the_rules_doc_is_returned_as_it_is():
    """No copy when there is nothing to split: the rules' own Doc comes back."""
    nlp = spacy.blank("xx")
    splitter = make_segmenter(nlp.vocab, "mt")
    made = []
    rules = splitter.rules
    splitter.rules = lambda text: made.append(rules(text)) or made[-1]
    assert splitter("Suid-Afrika ta' Malta.") is made[0]
    assert splitter("il-kelb") is not made[1]


def test_the_splitter_saves_and_loads_the_rules_it_wraps(tmp_path):
    """As a pipeline's tokenizer on its own, the splitter saves its rules, special cases
    included, and loads them back (to_bytes/from_bytes, to_disk/from_disk)."""
    nlp = spacy.blank("xx")
    splitter = make_segmenter(nlp.vocab, "mt")
    splitter.rules.add_special_case("gonna", [{"ORTH": "gon"}, {"ORTH": "na"}])
    fresh = make_segmenter(spacy.blank("xx").vocab, "mt")
    assert [t.text for t in fresh("gonna il-kelb")] == ["gonna", "il-", "kelb"]
    fresh.from_bytes(splitter.to_bytes())
    assert [t.text for t in fresh("gonna il-kelb")] == ["gon", "na", "il-", "kelb"]
    splitter.to_disk(tmp_path / "tokenizer")
    again = make_segmenter(spacy.blank("xx").vocab, "mt").from_disk(tmp_path / "tokenizer")
    assert [t.text for t in again("gonna il-kelb")] == ["gon", "na", "il-", "kelb"]
