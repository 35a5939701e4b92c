#!/usr/bin/env bash
# Every speed and memory benchmark, one after another, on an otherwise idle machine. Each
# writes its figures under reports/bench/ (committed; docs/benchmarks.md and the README
# quote them from there). Needs what `make all` builds (training/finetuned/model-last, corpus/;
# the seeds of `spacy project run seeds` too, where they are built)
# and, for the Ray/Dask comparison, the [dask] extra (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.." && . .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p reports/bench logs/bench
PIPE=training/finetuned/model-last
# The UD files as `make` finds them: UD_DIR, else the local mirror, else the pinned assets.
UD=${UD_DIR:-$( [ -f ../shared/ud/MANIFEST.tsv ] && echo ../shared/ud || echo assets/ud )}
EWT=$UD/UD_English-EWT/en_ewt-ud-test.conllu
step() { echo "== $1 $(date -u +%H:%M:%S)"; }
python -c "import distributed" 2>/dev/null || pip install --quiet -e "package/[dask]"  # older set-ups
# int8 runs other kernels on a CPU without VNNI (7-bit weights, no 8-bit dot products), and the
# committed figures come from a CPU with VNNI: on such a CPU only the inference benchmark runs,
# into files of its own (inference_no_vnni.*), which the README gives beside the others.
if ! python -c "from layer_fusion.onnx_encoder import cpu_has_vnni; raise SystemExit(not cpu_has_vnni())"; then
  step inference_no_vnni
  OMP_NUM_THREADS=2 python scripts/bench_inference.py $PIPE $EWT --sentences 1000 --runs 5 --output reports/bench/inference_no_vnni.json --markdown reports/bench/inference_no_vnni.md 2> logs/bench/inference_no_vnni.err
  echo "this CPU has no VNNI: only reports/bench/inference_no_vnni.* was measured (the other figures come from a CPU with VNNI)" >&2
  exit 0
fi
step batch_size
python scripts/bench_tagging.py $PIPE $EWT --lines 3000 --pairs 16/default,32/default,64/default --threads 2 --runs 3 > reports/bench/batch_size.md 2> logs/bench/batch_size.err
step inference
OMP_NUM_THREADS=2 python scripts/bench_inference.py $PIPE $EWT --sentences 1000 --runs 5 --output reports/bench/inference.json --markdown reports/bench/inference.md 2> logs/bench/inference.err
step int8_cpu
OMP_NUM_THREADS=2 python scripts/bench_int8_cpu.py $PIPE $UD --schemes fp32,per_channel,onnx_ffn_out_fp32_per_channel --output reports/bench/int8_cpu.json --markdown reports/bench/int8_cpu.md > /dev/null 2> logs/bench/int8_cpu.err
step distributed
OMP_NUM_THREADS=1 python scripts/bench_distributed.py $PIPE $EWT --lines 2000 --shards 4 --runs 3 --output reports/bench/distributed.json --markdown reports/bench/distributed.md > /dev/null 2> logs/bench/distributed.err
# Four times the lines: what start-up costs against what tagging costs.
OMP_NUM_THREADS=1 python scripts/bench_distributed.py $PIPE $EWT --lines 8000 --shards 4 --runs 3 --output reports/bench/distributed_8000.json --markdown reports/bench/distributed_8000.md > /dev/null 2> logs/bench/distributed_8000.err
step tagging
for tb in $EWT $UD/UD_Yoruba-YTB/yo_ytb-ud-test.conllu; do
  python scripts/bench_tagging.py $PIPE $tb --lines 10000 --pairs 64/default --threads 2 --precisions fp32,int8,int8-cold --runs 3 \
    --json reports/bench/tagging_$(basename $tb .conllu).json 2> logs/bench/tagging.err
  echo
done > reports/bench/tagging.md
step compact_tokenizer
python scripts/compare_tokenizers.py $PIPE $UD --output reports/bench/compact_tokenizer.json --markdown reports/bench/compact_tokenizer.md > /dev/null 2> logs/bench/compact_tokenizer.err
step encoder; python scripts/bench_encoder.py --order length > reports/bench/encoder.md 2> logs/bench/encoder.err
step grad_factor
for f in AIF ScalarMix LastLayer; do
  OMP_NUM_THREADS=2 python scripts/bench_grad_factor.py --fusion $f --steps 40 2> logs/bench/grad_factor_$f.err
  echo
done > reports/bench/grad_factor.md
step fusion; OMP_NUM_THREADS=2 python scripts/bench_fusion.py --sentences 1000 --train-steps 8 --rounds 2 > reports/bench/fusion.md 2> logs/bench/fusion.err
step finetune_step
OMP_NUM_THREADS=2 python scripts/bench_finetune_step.py configs/finetune.cfg corpus/train.spacy --bottom-layers 0 --bottom-layers 6 --steps 12 --output reports/bench/finetune_step.json > /dev/null 2> logs/bench/finetune_step.err
step tokenizer
python scripts/bench_tokenizer.py $UD --output reports/bench/tokenizer.json --markdown reports/bench/tokenizer.md > /dev/null 2> logs/bench/tokenizer.err
step final_one_letter_words
python scripts/count_final_one_letter_words.py $UD --output reports/bench/final_one_letter_words.json --markdown reports/bench/final_one_letter_words.md > /dev/null 2> logs/bench/final_one_letter_words.err
step long_doc
OMP_NUM_THREADS=2 python scripts/bench_long_doc.py $PIPE $EWT --sentences 250,1000 --runs 3 --output reports/bench/long_doc.json --markdown reports/bench/long_doc.md > /dev/null 2> logs/bench/long_doc.err
step tokenizer_speed
python scripts/bench_tokenizer_speed.py --output reports/bench/tokenizer_speed.json --markdown reports/bench/tokenizer_speed.md > /dev/null 2> logs/bench/tokenizer_speed.err
step documents
SEEDS=(); for seed in 1 2; do [ -d training/finetuned_seed$seed/model-last ] && SEEDS+=(training/finetuned_seed$seed/model-last); done
OMP_NUM_THREADS=2 python scripts/bench_documents.py $UD $PIPE "${SEEDS[@]}" --output reports/bench/documents.json --markdown reports/bench/documents.md > /dev/null 2> logs/bench/documents.err
step done
