"""scripts/bench_documents.py end to end on a tiny pipeline: the three modes, the sentence mode
equal to the raw-text evaluation, windows switched without touching weights, and a run that
resumes from the counts a cut run kept."""
import json

import numpy as np
import pytest
import spacy

from layer_fusion.conllu import read_conllu
from layer_fusion.raw_documents import evaluate_raw_documents
from layer_fusion.raw_text import evaluate_raw_text
from pipelines import build_pipeline
from runners import load_script

WORDS = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "mat": "NOUN", "sat": "VERB", "ran": "VERB",
         "on": "ADP", "big": "ADJ", ".": "PUNCT"}
TARGETS = ('[treebanks]\n\n[treebanks.xx_toy]\ntreebank = "UD_Toy-A"\nlanguage = "Toy"\niso = "xx"\n'
           'group = "low_resource"\nfile = "a.conllu"\n\n[treebanks.th_toy]\ntreebank = "UD_Toy-Th"\n'
           'language = "Thai"\niso = "th"\ngroup = "low_resource"\nfile = "th.conllu"\n')


def _write_set(path, n_sentences):
    rng = np.random.default_rng(0)
    blocks = []
    for n in range(n_sentences):
        words = [list(WORDS)[i] for i in rng.integers(0, len(WORDS) - 1, size=rng.integers(3, 9))] + ["."]
        rows = [f"# sent_id = s{n}", f"# text = {' '.join(words)}"]
        rows += [f"{i}\t{w}\t_\t{WORDS[w]}\t_\t_\t_\t_\t_\t_" for i, w in enumerate(words, 1)]
        blocks.append("\n".join(rows) + "\n")
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(blocks) + "\n", encoding="utf8")


@pytest.fixture(scope="module")
def seeds(tiny_xlmr, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-documents")
    return [build_pipeline(root / f"seed{i}", tiny_xlmr, "DLFA", steps=6 + i) for i in range(2)]


def test_modes_counts_and_resume(seeds, tmp_path):
    bench = load_script("bench_documents")
    ud = tmp_path / "ud"
    _write_set(ud / "UD_Toy-A" / "a.conllu", 14)
    _write_set(ud / "UD_Toy-Th" / "th.conllu", 3)  # Thai: left out (its tokens need a segmenter)
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS, encoding="utf8")
    out, md = tmp_path / "out" / "documents.json", tmp_path / "out" / "documents.md"
    bench.main(ud, seeds, output=out, markdown=md, targets=targets, max_sentences=4, batch_size=8)

    report = json.loads(out.read_text(encoding="utf8"))
    assert list(report["sets"]) == ["xx_toy"] and report["sets"]["xx_toy"] == {"sentences": 14, "texts": 4}
    sentences = list(read_conllu(ud / "UD_Toy-A" / "a.conllu"))
    for seed, counts in zip(seeds, report["per_sentence"]):
        nlp = spacy.load(seed)
        alone = evaluate_raw_text(nlp, sentences)
        assert counts["xx_toy"]["sentences"]["correct"] == (2 * alone.correct_upos).tolist()
        strided = evaluate_raw_documents(nlp, sentences, max_sentences=4)  # the pipeline as saved: strided
        assert counts["xx_toy"]["paragraphs_strided_spans"]["correct"] == (2 * strided.correct_upos).tolist()
        with_windows = bench.load_variant(seed, sentence_spans=True)
        assert with_windows.pipe_names[:2] == ["sentencizer", "transformer"]
        inside = evaluate_raw_documents(with_windows, sentences, max_sentences=4)
        assert counts["xx_toy"]["paragraphs_sentence_spans"]["correct"] == (2 * inside.correct_upos).tolist()
        # Windows inside sentences tag each sentence as if alone (every sentence ends in ".").
        assert inside.correct_upos.tolist() == alone.correct_upos.tolist()
    # Units of 4, 4, 4 and 2 sentences, each ending in "." before a lower-case word: the
    # sentencizer finds every one of the 3 + 3 + 3 + 1 starts after a text's first.
    assert report["sentence_starts"] == {"xx_toy": {"gold": 10, "found": 10, "correct": 10}}
    assert "macro precision 100.0%, recall 100.0%" in md.read_text(encoding="utf8")
    summary = report["summary"]
    assert summary["difference_from_sentences"]["paragraphs_sentence_spans"]["difference"] == 0.0
    assert md.read_text(encoding="utf8") == bench.render(report)
    assert not (out.parent / ".documents.partial").exists()

    # A cut run's kept counts are used, not recomputed: here made up, so they show.
    partial = out.parent / ".documents.partial"
    partial.mkdir()
    made_up = json.loads(json.dumps(report["per_sentence"][0]))
    made_up["xx_toy"]["paragraphs_strided_spans"]["correct"] = [0] * 14
    settings = {"model": str(seeds[0]), "max_sentences": 4, "sets": ["xx_toy"]}
    (partial / "0.json").write_text(json.dumps({"settings": settings, "counts": made_up}), encoding="utf8")
    (partial / "1.json").write_text(json.dumps({"settings": {**settings, "max_sentences": 9}, "counts": {}}),
                                    encoding="utf8")  # other settings: recomputed
    bench.main(ud, seeds, output=out, markdown=md, targets=targets, max_sentences=4, batch_size=8)
    resumed = json.loads(out.read_text(encoding="utf8"))
    assert resumed["per_sentence"][0] == made_up and resumed["per_sentence"][1] == report["per_sentence"][1]


def test_start_scores_leave_out_undefined_ratios():
    bench = load_script("bench_documents")
    scores = bench.start_scores({"a": {"gold": 0, "found": 2, "correct": 0}, "b": {"gold": 4, "found": 2, "correct": 2}})
    assert scores["per_set"] == {"a": {"precision": 0.0, "recall": None}, "b": {"precision": 1.0, "recall": 0.5}}
    assert scores["macro"] == {"precision": 0.5, "recall": 0.5}
