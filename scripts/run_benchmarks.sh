#!/usr/bin/env bash
# All benchmarks, one after another, on an otherwise idle machine; figures land in
# reports/bench/*.md (docs/benchmarks.md quotes them; commit them with the docs). Needs the pipeline `make all` trains
# (training/finetuned/model-last).
cd "$(dirname "$0")/.." && . .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1
mkdir -p reports/bench logs/bench
PIPE=training/finetuned/model-last
echo "== encoder $(date)"; python scripts/bench_encoder.py --order length > reports/bench/encoder.md 2> logs/bench/encoder.err
echo "== fusion $(date)"; OMP_NUM_THREADS=2 python scripts/bench_fusion.py --sentences 1000 --train-steps 8 --rounds 2 > reports/bench/fusion.md 2> logs/bench/fusion.err
echo "== tagging en $(date)"; python scripts/bench_tagging.py $PIPE ../shared/ud/UD_English-EWT/en_ewt-ud-test.conllu --lines 10000 --batch-sizes 64 --threads 2 --runs 1 > reports/bench/tagging_en.md 2> logs/bench/tagging_en.err
echo "== tagging yo $(date)"; python scripts/bench_tagging.py $PIPE ../shared/ud/UD_Yoruba-YTB/yo_ytb-ud-test.conllu --lines 10000 --batch-sizes 64 --threads 2 --runs 1 > reports/bench/tagging_yo.md 2> logs/bench/tagging_yo.err
echo "== done $(date)"
