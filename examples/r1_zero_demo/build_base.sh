#!/usr/bin/env bash
# Pre-train the R1-Zero demo's base on a GPU (docs/r1-zero.md): ~20M parameters, 4-digit additions
# from the train split only; the corpus drops carries in 65% of solutions and breaks the format in
# 15%, so the base is weak but above zero. Usage: build_base.sh BASE_DIR LOG_FILE
set -euo pipefail
python3 examples/tiny_base/build.py --out "$1" --digits 4 --examples 120000 --epochs 2 \
  --hidden 384 --layers 8 --heads 6 --intermediate 1536 --vocab-size 512 --batch-size 256 --lr 1e-3 \
  --device cuda 2>&1 | tee "$2"
