#!/usr/bin/env bash
# Part 4 of the study: GRPO as DeepSeekMath wrote it (advantages divided by the group's std, each
# sequence's loss averaged over its own tokens) against Dr. GRPO (no std, one constant normaliser),
# same base, same seeds; then the length of incorrect and correct completions over training.
# Usage: examples/r1_study/drgrpo_ablation.sh RECIPE OUT_DIR STEPS "SEEDS" [overrides...]
#   GPU, the study's base:  examples/r1_study/drgrpo_ablation.sh recipes/r1-study-countdown.yaml runs/abl 100 "0 1"
#   CPU, the tiny base:     examples/r1_study/drgrpo_ablation.sh recipes/quickstart.yaml runs/abl-cpu 30 "0 1"
# ARMS="grpo" or ARMS="dr_grpo" runs one arm only (two launches side by side on one GPU).
set -euo pipefail
recipe=$1; out=$2; steps=$3; seeds=$4; shift 4
mkdir -p "$out"
runs=()
for arm in ${ARMS:-grpo dr_grpo}; do
  if [ "$arm" = grpo ]; then
    algo=(algorithm.advantage=grpo algorithm.std_scope=group algorithm.loss_aggregation=seq-mean-token-mean)
  else
    algo=(algorithm.advantage=dr_grpo algorithm.std_scope=none algorithm.loss_aggregation=seq-mean-token-sum-norm)
  fi
  for seed in $seeds; do
    name=ablation-$arm-$seed
    started=$(date +%s)
    python3 -m grpo.cli train "$recipe" name="$name" seed="$seed" output_dir="$out/runs" trainer.steps="$steps" \
      logging.progress=false "${algo[@]}" "$@" > "$out/$name.log" 2>&1 \
      || { echo "$name failed: see $out/$name.log"; tail -5 "$out/$name.log"; exit 1; }
    echo "$name: $(( $(date +%s) - started )) s"
    runs+=("$out/runs/$name")
  done
done
python3 examples/r1_study/lengths.py "${runs[@]}" | tee "$out/lengths.md"
