#!/usr/bin/env bash
# Synchronous against asynchronous rollouts on the CPU quickstart: one rollout worker beside the
# learner (rollout.colocate=false) in both modes, so the only difference is rollout.max_staleness
# (0 or 1), both with sampler_correction=tis. Judges the asynchronous curves against the
# synchronous seeds' spread (benchmarks/async_overlay.py). On 2 cores the two processes share the
# cores, so this shows learning, not speed: the speed gain needs a GPU for each side
# (examples/r1_zero_demo/async_overlay.sh). About 30 minutes on 2 cores for 3 seeds.
# Usage: examples/async_overlay_quickstart.sh [OUT_DIR] [SEEDS]
set -euo pipefail
out=${1:-runs/async-overlay-quickstart}; seeds=${2:-"0 1 2"}
mkdir -p "$out"
for seed in $seeds; do
  for mode in sync async; do
    staleness=$([ "$mode" = async ] && echo 1 || echo 0)
    name=qs-$mode-$seed
    started=$(date +%s)
    grpo train recipes/quickstart.yaml name="$name" seed="$seed" output_dir="$out/runs" \
      rollout.colocate=false rollout.num_workers=1 rollout.max_staleness="$staleness" \
      algorithm.sampler_correction=tis eval.every_steps=10 logging.progress=false > "$out/$name.log" 2>&1
    echo "$name: $(( $(date +%s) - started )) s"
  done
done
python3 benchmarks/async_overlay.py --sync $(printf "$out/runs/qs-sync-%s " $seeds) \
  --async $(printf "$out/runs/qs-async-%s " $seeds) --out "$out"
