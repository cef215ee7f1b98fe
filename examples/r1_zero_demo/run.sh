#!/usr/bin/env bash
# Build a base model on a GPU, then reproduce the R1-Zero behaviour on it (docs/r1-zero.md).
# Usage: examples/r1_zero_demo/run.sh [OUT_DIR]   (about 8 minutes on one H100)
set -euo pipefail
out=${1:-runs/r1-zero-demo-out}
mkdir -p "$out"
base=runs/r1-zero-demo-base
# 1. pre-training (see build_base.sh)
bash examples/r1_zero_demo/build_base.sh "$base" "$out/pretrain.log"
# 2. pure RL from that base: rule-based rewards only
rm -rf runs/r1-zero-demo
shift || true; python3 -m grpo.cli train recipes/r1-zero-demo.yaml model.path="$base" "$@" 2>&1 | tee "$out/train.log"
python3 -m grpo.cli plot runs/r1-zero-demo
cp runs/r1-zero-demo/metrics.jsonl "$out/"
tar -czf "$out/plots.tar.gz" -C runs/r1-zero-demo plots samples
