#!/usr/bin/env bash
# Build a base model on a GPU, then reproduce the R1-Zero behaviour on it (docs/r1-zero.md).
# Usage: examples/r1_zero_demo/run.sh [OUT_DIR]   (about 8 minutes on one H100)
set -euo pipefail
out=${1:-runs/r1-zero-demo-out}
mkdir -p "$out"
base=runs/r1-zero-demo-base
# 1. pre-training: ~20M parameters, 4-digit additions from the train split only (the corpus
#    drops carries in 65% of solutions and breaks the format in 15%: weak but above zero)
python3 examples/tiny_base/build.py --out "$base" --digits 4 --examples 120000 --epochs 2 \
  --hidden 384 --layers 8 --heads 6 --intermediate 1536 --vocab-size 512 --batch-size 256 --lr 1e-3 \
  --device cuda 2>&1 | tee "$out/pretrain.log"
# 2. pure RL from that base: rule-based rewards only
rm -rf runs/r1-zero-demo
shift || true; python3 -m grpo.cli train recipes/r1-zero-demo.yaml model.path="$base" "$@" 2>&1 | tee "$out/train.log"
python3 -m grpo.cli plot runs/r1-zero-demo
cp runs/r1-zero-demo/metrics.jsonl "$out/"
tar -czf "$out/plots.tar.gz" -C runs/r1-zero-demo plots samples
