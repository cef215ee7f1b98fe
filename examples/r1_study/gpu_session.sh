#!/usr/bin/env bash
# The R1 study's GPU work cut into phases of under ten minutes each (one lent-machine call per
# phase, back to back on one warm machine: the bases, the teacher and the runs live in runs/).
# Every phase packs what it made into OUT as at most 8 files (the device tool's limit).
# Usage: examples/r1_study/gpu_session.sh PHASE OUT [SEED]
#   bases     the three bases in parallel: English (parts 1, 4), bilingual (part 2), student (part 3)
#   zero-abl  R1-Zero from the bilingual base (seed SEED) beside part 4's two arms (seed SEED), together:
#             none of the three is timed against another
#   pipeline  part 2's R1 pipeline with seed SEED, alone; its final model is part 3's teacher
#   distill   part 3 (a), alone and timed; then (b) GRPO from the student base for 150 steps, seeds 0
#             and 1 one after the other, alone and timed (wall times beside the accuracies)
set -euo pipefail
phase=$1; out=$2; seed=${3:-1}
mkdir -p "$out/work"
log() { echo "[$(date +%T)] $*" | tee -a "$out/work/phases.log"; }
timed() {  # timed NAME command...: wall seconds into work/NAME.seconds, output into work/NAME.log
  local name=$1; shift; local started; started=$(date +%s.%N); local code=0
  "$@" > "$out/work/$name.log" 2>&1 || code=$?
  python3 -c "print(round($(date +%s.%N) - $started, 1))" > "$out/work/$name.seconds"
  log "$name: exit $code, $(cat "$out/work/$name.seconds") s"
  return $code
}
pack() { tar -czf "$out/$phase.tgz" -C "$out" work && rm -rf "$out/work"; }
trap pack EXIT
zero_overrides=(logging.progress=false)

case $phase in
  bases)
    timed base-english python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-base --device cuda &
    timed base-bilingual python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-base-bilingual --device cuda \
      --second-language-share 0.3 &
    timed base-student python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-student-base --device cuda \
      --second-language-share 0.3 --hidden 192 --layers 4 --heads 4 --intermediate 768 &
    wait
    for b in runs/r1-study-base runs/r1-study-base-bilingual runs/r1-study-student-base; do
      log "$b: sha256 $(cat "$b"/*.safetensors | sha256sum | cut -c1-16)"
    done ;;
  zero-abl)
    BASE=runs/r1-study-base-bilingual RUN_PREFIX=r1-study-zero-bilingual \
      timed zero-bilingual-$seed examples/r1_study/run_zero.sh "$out/work/zero" 100 "$seed" "${zero_overrides[@]}" &
    ARMS=grpo timed ablation-grpo-$seed examples/r1_study/drgrpo_ablation.sh recipes/r1-study-countdown.yaml \
      runs/abl 100 "$seed" "${zero_overrides[@]}" &
    ARMS=dr_grpo timed ablation-dr_grpo-$seed examples/r1_study/drgrpo_ablation.sh recipes/r1-study-countdown.yaml \
      runs/abl 100 "$seed" "${zero_overrides[@]}" &
    wait
    for arm in grpo dr_grpo; do
      cp runs/abl/runs/ablation-$arm-$seed/metrics.jsonl "$out/work/ablation-$arm-$seed.metrics.jsonl"
      tar -czf "$out/work/ablation-$arm-$seed-samples.tar.gz" -C runs/abl/runs/ablation-$arm-$seed samples
    done ;;
  pipeline)
    timed pipeline-$seed python3 -m grpo.cli train recipes/r1-study-pipeline.yaml seed="$seed" logging.progress=false
    # everything the run wrote except model weights and checkpoints: metrics, stage summaries, samples
    tar -czf "$out/work/pipeline-$seed.tar.gz" --exclude='*.safetensors' --exclude='*/checkpoints/*' \
      -C runs r1-study-pipeline
    # the teacher (part 3) in parts of 15 MB, so a lost machine does not lose it: carry it back if needed
    tar -cf - -C runs/r1-study-pipeline/stages/rl_all model | split -b 15m - "$out/teacher.tar.part" ;;
  distill)
    timed distill python3 -m grpo.cli train examples/r1_study/distill.yaml logging.progress=false
    tar -czf "$out/work/distill.tar.gz" --exclude='*.safetensors' --exclude='*/checkpoints/*' -C runs r1-study-distill
    for s in 0 1; do
      BASE=runs/r1-study-student-base RUN_PREFIX=r1-study-student-rl \
        timed student-rl-$s examples/r1_study/run_zero.sh "$out/work/student" 150 "$s" "${zero_overrides[@]}"
    done ;;
  *) echo "unknown phase $phase"; exit 2 ;;
esac
