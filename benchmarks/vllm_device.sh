#!/usr/bin/env bash
# The vLLM engine's GPU evidence, one stage per device call (each under 10 minutes):
#   bash benchmarks/vllm_device.sh check    # install, build the demo base, weight-sync checks
#   bash benchmarks/vllm_device.sh lora     # the LoRA (adapter-only) sync check alone
#   bash benchmarks/vllm_device.sh curves   # R1-Zero demo run with each engine, same seed
#   bash benchmarks/vllm_device.sh separate # the demo with vLLM on a second GPU (NCCL weight sync)
#   bash benchmarks/vllm_device.sh bench    # benchmarks/gpu_step.py: transformers vs vLLM vs TRL
# Needs the parts from benchmarks/device_fetch.sh already copied to /tmp/vc (device_setup.sh).
set -o pipefail
out=${OUT:-/tmp/vllm-out}
mkdir -p "$out"
source benchmarks/device_setup.sh
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
base=runs/r1-zero-demo-base
case "$1" in
  check)
    python3 -c "import torch, vllm, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
    if [ ! -f "$base/config.json" ]; then
      timeout 240 python3 examples/tiny_base/build.py --out "$base" --digits 4 --examples 120000 --epochs 2 \
        --hidden 384 --layers 8 --heads 6 --intermediate 1536 --vocab-size 512 --batch-size 256 --lr 1e-3 \
        --device cuda > "$out/pretrain.log" 2>&1; tail -n 2 "$out/pretrain.log"
    fi
    timeout 200 python3 benchmarks/vllm_check.py --base "$base" --out "$out" 2>&1 | tee "$out/check.log" | grep -v "^INFO\|^WARNING\|^(" | tail -n 12
    timeout 200 python3 benchmarks/vllm_check.py --base "$base" --out "$out" --lora 2>&1 | tee "$out/check_lora.log" | grep -v "^INFO\|^WARNING\|^(" | tail -n 12
    ;;
  lora)
    timeout 300 python3 benchmarks/vllm_check.py --base "$base" --out "$out" --lora 2>&1 | tee "$out/check_lora.log" | grep -v "^INFO\|^WARNING\|^(" | tail -n 12
    ;;
  curves)
    shift; timeout 560 python3 benchmarks/engine_curves.py --base "$base" --out "$out" "$@" 2>&1 | tail -n 30
    ;;
  separate)
    # rollout on its own GPU, weights over NCCL after every step (needs 2 GPUs)
    if [ ! -f "$base/config.json" ]; then
      timeout 240 python3 examples/tiny_base/build.py --out "$base" --digits 4 --examples 120000 --epochs 2 \
        --hidden 384 --layers 8 --heads 6 --intermediate 1536 --vocab-size 512 --batch-size 256 --lr 1e-3 \
        --device cuda > "$out/pretrain.log" 2>&1; tail -n 2 "$out/pretrain.log"
    fi
    shift; timeout 480 python3 benchmarks/engine_curves.py --base "$base" --out "$out" --engines vllm "$@" \
      rollout.colocate=false 2>&1 | tail -n 20
    python3 - "$out/curves-vllm.metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if "time/step" in line]
print("| step | train accuracy | sampler/trainer log-prob gap | sync s |")
print("| --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['step']} | {r['accuracy']:.3f} | {r.get('train/sampler_logprob_gap', float('nan')):.2e} | {r['time/sync']:.3f} |")
PY
    ;;
  bench)
    shift; timeout 560 python3 benchmarks/gpu_step.py --out "$out" "$@" 2>&1 | tail -n 30
    ;;
esac
