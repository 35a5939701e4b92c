"""scripts/bench_inference.py measures the encoder the pipeline runs: in inference mode."""
import numpy
import pytest
import spacy
import torch
from pipelines import build_pipeline
from runners import load_script

TEXTS = ["the cat sat on the mat .", "a dog ran", "big cats sat down on the red mat today"]


@pytest.fixture(scope="module")
def pipeline_dir(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("bench") / "pipeline", tiny_xlmr, "DLFA", steps=4)


def test_bare_forward_and_hidden_states_run_without_dropout(pipeline_dir):
    bench = load_script("bench_inference")
    nlp = spacy.load(pipeline_dir)
    encoder = bench.encoder(nlp)
    dropouts = [m for m in encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts
    for m in dropouts:  # the tiny test encoder has none; multilingual-e5-small has 0.1
        m.p = 0.5
    encoder.train()  # where thinc's shim leaves it between calls
    first = bench.hidden_states(nlp, TEXTS, layers=(1, -1))
    encoder.train()
    second = bench.hidden_states(nlp, TEXTS, layers=(1, -1))
    for a, b in zip(first, second):
        numpy.testing.assert_array_equal(a, b)
    # ... and they are the states the pipeline itself computes.
    doc = nlp.get_pipe("transformer")(nlp.make_doc(TEXTS[0]))
    last = numpy.asarray(doc._.trf_data.model_output.last_hidden_state).reshape(-1, first[1].shape[-1])
    numpy.testing.assert_allclose(first[1][: len(last)], last, rtol=1e-5, atol=1e-5)
    encoder.train()
    bench.bare_forward(nlp, TEXTS)()
    assert not encoder.training


def test_padding_shares_count_the_positions_of_each_order(pipeline_dir):
    from layer_fusion.conllu import Sentence

    bench = load_script("bench_inference")
    nlp = spacy.load(pipeline_dir)
    tok = bench.tokenizer(nlp)
    texts = ["a b c d e f", "antidisestablishmentarianism", "x y", "floccinaucinihilipilification z"]
    sents = [Sentence(None, t, t.split(), [True] * len(t.split()), ["X"] * len(t.split())) for t in texts]
    shares = bench.padding_shares(nlp, sents, batch_size=2)
    pieces = [len(tok(s.words, is_split_into_words=True)["input_ids"]) for s in sents]
    by_words = sorted(range(4), key=lambda i: len(sents[i]))
    by_pieces = sorted(range(4), key=pieces.__getitem__)

    def positions(order):
        return sum(2 * max(pieces[i] for i in order[k:k + 2]) for k in (0, 2))

    for name, order in (("pipeline, sorted by words", by_words), ("pipeline, sorted by wordpieces", by_pieces)):
        assert shares[name]["real"] == sum(pieces)
        assert shares[name]["positions"] == positions(order), name
    assert shares["pipeline, sorted by wordpieces"]["positions"] <= shares["pipeline, sorted by words"]["positions"]
    text_pieces = sum(len(ids) for ids in tok(texts)["input_ids"])
    assert shares["bare encoder, text"]["real"] == text_pieces



def test_fast_tokenizer_copy_sets_the_setting_whether_or_not_the_config_has_it(tiny_xlmr, tmp_path):
    """spaCy saves every factory setting (``compact_tokenizer = true`` among them); older
    configs lack the line. Either way the copy loads with the fast tokenizer and tags as the
    pipeline does; a config without the component is refused before anything is written."""
    import shutil

    from pipelines import trained_fusion_transformer

    bench = load_script("bench_inference")
    saved = tmp_path / "saved"
    trained_fusion_transformer(tiny_xlmr).to_disk(saved)
    config = (saved / "config.cfg").read_text(encoding="utf-8")
    assert "compact_tokenizer = true" in config
    older = tmp_path / "older"
    shutil.copytree(saved, older)
    (older / "config.cfg").write_text(
        "".join(line for line in config.splitlines(keepends=True) if not line.startswith("compact_tokenizer")),
        encoding="utf-8")
    expected = [t.pos_ for t in spacy.load(saved)(TEXTS[2])]
    for source in (saved, older):
        copy = bench.fast_tokenizer_copy(source, tmp_path / f"fast_{source.name}")
        assert (copy / "config.cfg").read_text(encoding="utf-8").count("compact_tokenizer") == 1
        nlp = spacy.load(copy)
        assert nlp.get_pipe("transformer").compact_tokenizer is False
        assert [t.pos_ for t in nlp(TEXTS[2])] == expected
    stock = tmp_path / "stock"
    shutil.copytree(saved, stock)
    (stock / "config.cfg").write_text(config.replace('factory = "fusion_transformer"', 'factory = "transformer"'),
                                      encoding="utf-8")
    with pytest.raises(ValueError, match="no fusion_transformer component"):
        bench.fast_tokenizer_copy(stock, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_the_report_gives_the_int8_cache_size_where_it_was_measured():
    bench = load_script("bench_inference")
    report = {"pipeline": "p", "sentences": 1, "source": "s", "threads": 1, "runs": 1, "machine": "m",
              "median_seconds": {}, "cosine_to_fp32": {"per_channel": {"-1": 0.9}},
              "memory": {"fp32": {"peak_rss_mib": 900.0, "late_rss_mib": 880.0, "seconds": 9.0},
                         "int8, from the cache": {"peak_rss_mib": 800.0, "late_rss_mib": 780.0, "seconds": 8.0,
                                                  "int8_cache_bytes": 44107675}}}
    assert "The int8 cache holds 44,107,675 bytes (44.1 MB) for this pipeline." in bench.render(report)
    del report["memory"]["int8, from the cache"]["int8_cache_bytes"]
    assert "int8 cache holds" not in bench.render(report)


def test_memory_only_refuses_a_report_made_on_another_machine(tmp_path):
    """Its timings are kept beside the new memory figures: both must be this machine's."""
    import json

    import typer

    from ud_files import write_conllu

    bench = load_script("bench_inference")
    conllu = write_conllu(tmp_path / "s.conllu", [("1", [("a", "DET"), ("cat", "NOUN")])]) or tmp_path / "s.conllu"
    output = tmp_path / "inference.json"
    output.write_text(json.dumps({"machine": "2 cores (elsewhere)", "memory": {}}), encoding="utf-8")
    with pytest.raises(typer.BadParameter, match=r"measured on 2 cores \(elsewhere\), this is "):
        bench.main(tmp_path, conllu, sentences=1, runs=1, threads=1, output=output, markdown=None, memory_only=True)
    assert json.loads(output.read_text(encoding="utf-8")) == {"machine": "2 cores (elsewhere)", "memory": {}}
