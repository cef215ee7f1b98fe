#!/usr/bin/env bash
# The R1 study, part 1 (docs/r1-reproduction.md): pre-train the Countdown search-trace base on a
# GPU, then pure GRPO from it with rule rewards, SEEDS seeds (runs RUN_PREFIX-SEED, default
# r1-study-zero-SEED); prints the table and keeps plots
# and sample traces. Usage: examples/r1_study/run_zero.sh [OUT_DIR] [STEPS] [SEEDS] [extra overrides...]
set -euo pipefail
out=${1:-runs/r1-study-out}; steps=${2:-100}; seeds=${3:-"0 1"}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p "$out"
base=runs/r1-study-base
[ -f "$base/config.json" ] || python3 examples/r1_study/countdown_corpus.py --out "$base" --device cuda 2>&1 | tee "$out/pretrain.log"
runs=()
for seed in $seeds; do
  name=${RUN_PREFIX:-r1-study-zero}-$seed
  rm -rf "runs/$name"
  python3 -m grpo.cli train recipes/r1-study-countdown.yaml model.path="$base" name="$name" seed="$seed" \
    trainer.steps="$steps" logging.progress=false "$@" > "$out/$name.log" 2>&1 || { tail -5 "$out/$name.log"; exit 1; }
  python3 -m grpo.cli plot "runs/$name" > /dev/null
  cp "runs/$name/metrics.jsonl" "$out/$name.jsonl"
  tar -czf "$out/$name-plots.tar.gz" -C "runs/$name" plots samples
  runs+=("runs/$name")
done
python3 examples/r1_study/summarize.py "${runs[@]}" | tee "$out/table.md"
