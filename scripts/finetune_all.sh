#!/usr/bin/env bash
# Regime b on one accelerator: one process per fusion of PACK/plan.json, all at once (a
# small encoder leaves a GPU mostly idle in one process), each running its seeds in turn.
# Finished runs land in OUTDIR/finetune-<fusion>.npz as they finish; the log is shared.
#
#   scripts/finetune_all.sh PACK OUTDIR [options for finetune_encoder.py, e.g. --seeds 0]
set -euo pipefail
pack=$1; out=$2; shift 2
mkdir -p "$out"
fusions=$(python3 -c 'import json, sys; print(" ".join(v["fusion"] for v in json.load(open(sys.argv[1] + "/plan.json"))["variants"]))' "$pack")
here=$(dirname "$0")
pids=()
for f in $fusions; do
  python3 "$here/finetune_encoder.py" "$pack" "$out/finetune-$f.npz" --fusion "$f" "$@" >> "$out/finetune.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
