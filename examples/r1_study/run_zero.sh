#!/usr/bin/env bash
# The R1 study, part 1 (docs/r1-reproduction.md): pre-train the Countdown search-trace base on a
# GPU, then pure GRPO from it with rule rewards, SEEDS seeds (runs RUN_PREFIX-SEED, default
# r1-study-zero-SEED); prints the table and keeps plots
# and sample traces. Usage: examples/r1_study/run_zero.sh [OUT_DIR] [STEPS] [SEEDS] [extra overrides...]
# Split over calls with a time limit: add trainer.time_limit_minutes=8 (exit 75 when it stops), then
# rerun with RESUME=1 to continue the stopped run and skip finished ones.
# BASE=runs/r1-study-base-bilingual (part 2) or runs/r1-study-student-base (part 3) starts from
# another base, which must exist (docs/r1-reproduction.md builds it); only the default is built here.
set -euo pipefail
out=${1:-runs/r1-study-out}; steps=${2:-100}; seeds=${3:-"0 1"}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p "$out"
base=${BASE:-runs/r1-study-base}
if [ ! -f "$base/config.json" ]; then
  if [ -n "${BASE:-}" ]; then echo "BASE=$base holds no model: build it first (docs/r1-reproduction.md)"; exit 2; fi
  python3 examples/r1_study/countdown_corpus.py --out "$base" --device cuda 2>&1 | tee "$out/pretrain.log"
fi
runs=()
for seed in $seeds; do
  name=${RUN_PREFIX:-r1-study-zero}-$seed
  final="runs/$name/checkpoints/step_$(printf %06d "$steps")/driver_state.json"
  if [ "${RESUME:-0}" != 1 ] || [ ! -f "$final" ]; then  # RESUME=1 skips runs an earlier call finished
    resume=()
    if [ "${RESUME:-0}" = 1 ] && [ -d "runs/$name/checkpoints" ]; then resume=(--resume); else rm -rf "runs/$name"; fi
    code=0
    python3 -m grpo.cli train recipes/r1-study-countdown.yaml model.path="$base" name="$name" seed="$seed" \
      trainer.steps="$steps" logging.progress=false "$@" "${resume[@]}" >> "$out/$name.log" 2>&1 || code=$?
    if [ "$code" = 75 ]; then  # trainer.time_limit_minutes: checkpoint saved; the next call continues
      cp "runs/$name/metrics.jsonl" "$out/$name.partial.jsonl"  # a lent machine may not outlive the call
      tar -czf "$out/$name-samples.partial.tar.gz" -C "runs/$name" samples
      python3 examples/r1_study/summarize.py "runs/$name" | tee "$out/$name.partial.md" || true
      echo "$name stopped by its time limit; continue with RESUME=1 $0 $out $steps \"$seeds\" ..."; exit 75
    fi
    [ "$code" = 0 ] || { tail -5 "$out/$name.log"; exit 1; }
  fi
  python3 -m grpo.cli plot "runs/$name" > /dev/null
  cp "runs/$name/metrics.jsonl" "$out/$name.jsonl"
  tar -czf "$out/$name-plots.tar.gz" -C "runs/$name" plots samples
  runs+=("runs/$name")
done
python3 examples/r1_study/summarize.py "${runs[@]}" | tee "$out/table.md"
