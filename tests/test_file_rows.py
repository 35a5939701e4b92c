"""Word-embedding rows read from the weights file (``file_rows``): the same values as the
torch lookup, only for tensors that still hold the file's bytes, and in an int8 pipeline
the same hidden states and tags as the torch lookup, with the table unmapped."""
import gc
import pickle

import numpy
import pytest
import spacy
import torch
from safetensors.torch import save_file
from spacy.tokens import Doc
from pipelines import synthetic_examples, trained_fusion_transformer
from runners import run_tag

from layer_fusion import file_rows
from layer_fusion.file_rows import FileRows, embeddings_from_files, file_source, row_lookup
from layer_fusion.quantization import quantize_encoder
from layer_fusion.tagging import LineTagger
from layer_fusion.transformer_component import map_tensors

WORDS = [["the", "cat", "sat", "on", "the", "mat", "."], ["a", "dog", "ran"], ["big", "red", "house"]]


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_file({"bias": torch.randn(7), "table": torch.randn(300, 24)}, str(path))
    return path


def test_rows_read_from_the_file_equal_the_torch_lookup(weights):
    table = map_tensors(weights)["table"]
    embedding = torch.nn.Embedding.from_pretrained(table, freeze=True)
    lookup = row_lookup(embedding)
    assert isinstance(lookup, FileRows)
    ids = torch.tensor([[5, 0, 299, 5, 17], [17, 17, 1, 2, 298]])
    assert torch.equal(lookup(ids), embedding(ids)) and lookup(ids).shape == (2, 5, 24)
    assert torch.equal(lookup(torch.zeros((0, 3), dtype=torch.long)), embedding(torch.zeros((0, 3), dtype=torch.long)))
    with pytest.raises(IndexError, match=r"id 300 is outside the 300 rows of .*model.safetensors"):
        lookup(torch.tensor([[1, 300]]))
    assert torch.equal(pickle.loads(pickle.dumps(lookup))(ids), embedding(ids))


def test_rows_come_from_the_mapped_file_when_another_is_saved_over_it(weights):
    """Saving a pipeline again (a training run writing model-best) renames a new weights file
    over the one being read: rows keep coming from the mapped file, the other weights' file.
    A lookup made after the swap keeps the torch lookup (the map still holds the old bytes)."""
    table = map_tensors(weights)["table"]
    embedding = torch.nn.Embedding.from_pretrained(table, freeze=True)
    lookup = row_lookup(embedding)
    ids = torch.tensor([[5, 0, 299, 17]])
    expected = embedding(ids).clone()
    other = weights.parent / "other.safetensors"
    save_file({"bias": torch.zeros(7), "table": torch.full((300, 24), 7.0)}, str(other))
    other.replace(weights)
    assert torch.equal(lookup(ids), expected)
    assert row_lookup(torch.nn.Embedding.from_pretrained(table, freeze=True)).__class__ is torch.nn.Embedding
    with pytest.raises(OSError, match="is not the file the pipeline was loaded from"):
        pickle.loads(pickle.dumps(lookup))(ids)  # another process opens the path anew


def test_only_an_unwritten_whole_mapped_tensor_has_a_file_source(weights):
    tensors = map_tensors(weights)
    table = tensors["table"]
    source = file_source(table)
    assert source is not None and source.path == weights and source.shape == (300, 24)
    assert file_source(table[10:20]) is None  # a view: another address and shape
    assert file_source(table.clone()) is None  # not mapped
    assert file_source(torch.randn(300, 24)) is None
    with torch.no_grad():
        table[0, 0] += 1.0  # copy-on-write: this process's page now differs from the file
    assert file_source(table) is None
    embedding = torch.nn.Embedding.from_pretrained(table)
    assert row_lookup(embedding) is embedding


def test_max_norm_keeps_the_torch_lookup(weights):
    embedding = torch.nn.Embedding.from_pretrained(map_tensors(weights)["table"], max_norm=1.0)
    assert row_lookup(embedding) is embedding


def test_a_freed_tensor_is_forgotten(weights):
    table = map_tensors(weights)["table"]
    address = table.data_ptr()
    assert address in file_rows._MAPPED
    del table
    gc.collect()
    assert address not in file_rows._MAPPED


def test_written_pages_are_read_from_smaps(tmp_path):
    smaps = tmp_path / "smaps"
    smaps.write_text(
        "1000-3000 r--p 00000000 08:01 12 /x/model.safetensors\nRss:  8 kB\nAnonymous:  0 kB\n"
        "3000-5000 rw-p 00000000 00:00 0 \nRss:  8 kB\nAnonymous:  4 kB\n", encoding="utf-8")
    assert file_rows._written_pages(0x1800, smaps) == 0
    assert file_rows._written_pages(0x3000, smaps) == 4
    assert file_rows._written_pages(0x9000, smaps) is None
    assert file_rows._written_pages(0x1000, tmp_path / "missing") is None


@pytest.fixture(scope="module")
def saved_fusion_pipeline(e5_like, tmp_path_factory):
    path = tmp_path_factory.mktemp("file-rows") / "pipeline"
    trained_fusion_transformer(e5_like, split_words=True).to_disk(path)
    return path


def encoder_outputs(nlp):
    docs = [nlp.get_pipe("transformer")(Doc(nlp.vocab, words=w)) for w in WORDS]
    return [numpy.asarray(h) for d in docs for h in d._.trf_data.model_output.hidden_states]


def test_an_int8_pipeline_reads_rows_from_the_file_with_the_same_results(saved_fusion_pipeline, monkeypatch):
    nlp = spacy.load(saved_fusion_pipeline)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    table_address = shim._model.get_input_embeddings().weight.data_ptr()
    quantize_encoder(nlp)
    assert isinstance(shim._model.word_embeddings, FileRows)
    assert list(shim._model.parameters()) == []
    gc.collect()
    assert table_address not in file_rows._MAPPED  # the fp32 table is unmapped
    monkeypatch.setattr(file_rows, "file_source", lambda tensor: None)
    torch_lookup = spacy.load(saved_fusion_pipeline)
    quantize_encoder(torch_lookup)
    assert isinstance(torch_lookup.get_pipe("transformer").model.layers[0].shims[0]._model.word_embeddings,
                      torch.nn.Embedding)
    for a, b in zip(encoder_outputs(nlp), encoder_outputs(torch_lookup)):
        assert numpy.array_equal(a, b)
    tags = [[t.pos_ for t in nlp(Doc(nlp.vocab, words=w))] for w in WORDS]
    assert tags == [[t.pos_ for t in torch_lookup(Doc(torch_lookup.vocab, words=w))] for w in WORDS]
    assert all(all(d) for d in tags)


def test_fp32_tagging_reads_rows_from_the_file_with_the_same_results(saved_fusion_pipeline):
    reference = spacy.load(saved_fusion_pipeline)
    nlp = spacy.load(saved_fusion_pipeline)
    assert embeddings_from_files(nlp) == 1
    model = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    assert isinstance(model.get_input_embeddings(), FileRows)
    assert embeddings_from_files(nlp) == 0  # already replaced
    for a, b in zip(encoder_outputs(nlp), encoder_outputs(reference)):
        assert numpy.array_equal(a, b)
    lines = [" ".join(w) for w in WORDS]
    assert [r.tags for r in LineTagger(nlp, batch_size=2).tag(lines)] == \
        [r.tags for r in LineTagger(reference, batch_size=2).tag(lines)]


def test_a_pipeline_reading_rows_from_the_file_cannot_be_trained_or_saved(saved_fusion_pipeline, tmp_path):
    """Saved, it lost its word embeddings (not in the state dict) and no longer loaded."""
    from layer_fusion.inference_only import InferenceOnlyError

    nlp = spacy.load(saved_fusion_pipeline)
    embeddings_from_files(nlp)
    refused = r"changed for tagging only \(its word embeddings are read from the encoder's files"
    with pytest.raises(InferenceOnlyError, match=refused):
        nlp.update(synthetic_examples(nlp, 4))
    with pytest.raises(InferenceOnlyError, match=refused):
        nlp.to_disk(tmp_path / "saved")
    assert not (tmp_path / "saved").exists()
    # the component on its own refuses too (nlp.update and nlp.to_disk are not the only ways in)
    transformer = nlp.get_pipe("transformer")
    for operation in (lambda: transformer.update(synthetic_examples(nlp, 4)), transformer.to_bytes,
                      lambda: transformer.to_disk(tmp_path / "alone")):
        with pytest.raises(InferenceOnlyError, match=r"^nlp.get_pipe\('transformer'\)\.\w+: this pipeline was " + refused):
            operation()
    assert not (tmp_path / "alone").exists()


def test_the_cli_tags_fp32_through_file_rows(saved_fusion_pipeline, monkeypatch):
    expected = [" ".join(f"{t.text}/{t.pos_}" for t in d)
                for d in spacy.load(saved_fusion_pipeline).pipe([" ".join(w) for w in WORDS])]
    calls = []
    forward = FileRows.forward
    monkeypatch.setattr(FileRows, "forward", lambda self, ids: calls.append(ids.shape) or forward(self, ids))
    result = run_tag([saved_fusion_pipeline, "--fp32", "--format", "text", "-q"],
                     input="".join(" ".join(w) + "\n" for w in WORDS))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == expected
    assert calls
