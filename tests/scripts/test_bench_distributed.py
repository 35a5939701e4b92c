"""scripts/bench_distributed.py: its Dask variant writes the records single-process tagging
writes (the Ray variant is layer_fusion.distributed, tested in tests/test_tag_dataset.py)."""
import pytest
from pipelines import build_pipeline
from runners import load_script

from layer_fusion.distributed import single_process_records

pytestmark = pytest.mark.slow


def test_dask_variant_writes_the_single_process_records(tiny_xlmr, tmp_path):
    bench = load_script("bench_distributed")
    pipeline = str(build_pipeline(tmp_path / "pipeline", tiny_xlmr, "DLFA", steps=4))
    conllu = tmp_path / "x.conllu"
    rows = [("the", "DET"), ("cat", "NOUN"), ("sat", "VERB")]
    conllu.write_text("".join(f"# text = {' '.join(w for w, _ in rows[:n])}\n" +
                              "".join(f"{i}\t{w}\t_\t{u}\t_\t_\t_\t_\t_\t_\n" for i, (w, u) in enumerate(rows[:n], 1))
                              + "\n" for n in (1, 2, 3)), encoding="utf-8")
    texts = bench.write_corpus(conllu, 300, 3, tmp_path / "in")  # chunks of 128 cross shard ends
    assert len(texts) == 300 and texts[:3] == ["the", "the cat", "the cat sat"]
    pattern = str(tmp_path / "in" / "*.jsonl")
    out = tmp_path / "out"
    out.mkdir()
    bench.run_dask(pipeline, pattern, out, workers=2)
    expected = single_process_records(pipeline, pattern)
    assert bench.read_outputs(out) == expected and sum(map(len, expected.values())) == 300
