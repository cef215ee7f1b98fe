#!/usr/bin/env bash
# Synchronous against asynchronous rollouts on the R1-Zero demo, on 2 GPUs: the learner on one,
# vLLM on the other (on a machine with one GPU both share it as separate processes, with
# rollout.gpus_per_worker=0.5: the curves compare the same way, the speed does not). Three seeds
# of each, so the asynchronous curve can be judged against the run-to-run spread of the
# synchronous one (docs/throughput.md, "Asynchronous rollouts").
# Usage: examples/r1_zero_demo/async_overlay.sh [OUT_DIR] [STEPS] [SEEDS] [MODES]   (needs vLLM)
# Ends with benchmarks/async_overlay.py over every runs/demo-sync-* and runs/demo-async-* present:
# OUT_DIR/overlay.png and a table of where the asynchronous seeds' mean sits against the
# synchronous seeds' range. The six runs and the base take longer than one 10-minute device
# call, so SEEDS and MODES split them over calls on one warm machine, e.g. "0 1 2" "sync", then
# "0 1 2" "async" (the base and the runs stay under runs/ between calls).
set -euo pipefail
out=${1:-runs/async-overlay}; steps=${2:-30}; seeds=${3:-"0 1 2"}; modes=${4:-"sync async"}
mkdir -p "$out"
base=runs/r1-zero-demo-base
placement="rollout.vllm.gpu_memory_utilization=0.5"
if [ "$(nvidia-smi -L 2> /dev/null | wc -l)" -lt 2 ]; then
  placement="$placement rollout.gpus_per_worker=0.5"
  echo "one GPU: the learner and vLLM share it (rollout.gpus_per_worker=0.5)"
fi
[ -f "$base/config.json" ] || bash examples/r1_zero_demo/build_base.sh "$base" "$out/pretrain.log" > /dev/null
for mode in $modes; do
  staleness=$([ "$mode" = async ] && echo 1 || echo 0)
  for seed in $seeds; do
    name=demo-$mode-$seed
    rm -rf "runs/$name"
    started=$(date +%s)
    python3 -m grpo.cli train recipes/r1-zero-demo.yaml model.path="$base" name="$name" seed="$seed" \
      trainer.steps="$steps" rollout.engine=vllm rollout.colocate=false $placement \
      rollout.max_staleness="$staleness" algorithm.sampler_correction=tis eval.every_steps=5 \
      logging.progress=false > "$out/$name.log" 2>&1 || { echo "$name failed: see $out/$name.log"; tail -5 "$out/$name.log"
        rm -rf "runs/failed-$name"; mv "runs/$name" "runs/failed-$name" 2> /dev/null || true; continue; }
    echo "$name: $(( $(date +%s) - started )) s"
    cp "runs/$name/metrics.jsonl" "$out/$name.jsonl"
  done
done
sync_runs=$(find runs -maxdepth 1 -name 'demo-sync-*' | sort); async_runs=$(find runs -maxdepth 1 -name 'demo-async-*' | sort)
if [ -n "$sync_runs" ] && [ -n "$async_runs" ]; then
  python3 benchmarks/async_overlay.py --sync $sync_runs --async $async_runs --out "$out"
else
  echo "overlay: waits for both modes' runs (now: ${sync_runs:-no sync run}; ${async_runs:-no async run})"
fi
