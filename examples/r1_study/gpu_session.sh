#!/usr/bin/env bash
# The R1 study's GPU work cut into phases of under ten minutes each (one lent-machine call per
# phase, back to back on one warm machine: the bases, the teacher and the runs live in runs/).
# Every phase packs what it made into OUT as at most 8 files (the device tool's limit).
# Usage: examples/r1_study/gpu_session.sh PHASE OUT [SEED]
#   bases     the bases in parallel: English (parts 1, 4), bilingual (part 2), student (part 3);
#             BASES="bilingual student" builds only those (default: all three)
#   zero-abl  R1-Zero from the bilingual base (seed SEED) beside part 4's two arms (seed SEED), together:
#             none of the three is timed against another
#   ablation  part 4's two arms (seed SEED) side by side, from the English base; ZERO=1 adds part 1's
#             R1-Zero run (seed SEED, 100 steps, run r1-study-zero-SEED) from the same base beside them
#   pipeline  part 2's R1 pipeline with seed SEED, alone; its final model is part 3's teacher (RESUME=1
#             continues one that an earlier call's time limit cut)
#   distill   part 3 (a) with seed SEED, alone and timed (run r1-study-distill-SEED); then (b) GRPO from
#             the student base for 150 steps with the same seed, alone and timed (wall times beside
#             the accuracies). One seed a phase: (a) and (b) of one seed fit one 10-minute call
# Overrides after SEED (e.g. trainer.time_limit_minutes=4) go to the GRPO runs of zero-abl, ablation and distill (b).
set -euo pipefail
phase=$1; out=$2; seed=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
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
zero_overrides=(logging.progress=false "$@")
arms() {  # part 4's two arms with seed $seed, side by side, from the English base
  for arm in grpo dr_grpo; do
    ARMS=$arm timed ablation-$arm-$seed examples/r1_study/drgrpo_ablation.sh recipes/r1-study-countdown.yaml \
      runs/abl 100 "$seed" "${zero_overrides[@]}" &
  done
}
keep_arms() {
  for arm in grpo dr_grpo; do
    cp runs/abl/runs/ablation-$arm-$seed/metrics.jsonl "$out/work/ablation-$arm-$seed.metrics.jsonl"
    tar -czf "$out/work/ablation-$arm-$seed-samples.tar.gz" -C runs/abl/runs/ablation-$arm-$seed samples
  done
}

case $phase in
  bases)
    want=" ${BASES:-english bilingual student} "
    built=()
    if [[ $want == *" english "* ]]; then
      timed base-english python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-base --device cuda &
      built+=(runs/r1-study-base)
    fi
    if [[ $want == *" bilingual "* ]]; then
      timed base-bilingual python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-base-bilingual \
        --device cuda --second-language-share 0.3 &
      built+=(runs/r1-study-base-bilingual)
    fi
    if [[ $want == *" student "* ]]; then
      timed base-student python3 examples/r1_study/countdown_corpus.py --out runs/r1-study-student-base --device cuda \
        --second-language-share 0.3 --hidden 192 --layers 4 --heads 4 --intermediate 768 &
      built+=(runs/r1-study-student-base)
    fi
    wait
    for b in "${built[@]}"; do
      log "$b: sha256 $(cat "$b"/*.safetensors | sha256sum | cut -c1-16)"
    done ;;
  zero-abl)
    for b in runs/r1-study-base-bilingual runs/r1-study-base; do  # part 4's arms start from the English base
      [ -f "$b/config.json" ] || { log "zero-abl needs $b: run the bases phase first (BASES=\"english bilingual\")"; exit 2; }
    done
    BASE=runs/r1-study-base-bilingual RUN_PREFIX=r1-study-zero-bilingual \
      timed zero-bilingual-$seed examples/r1_study/run_zero.sh "$out/work/zero" 100 "$seed" "${zero_overrides[@]}" &
    arms
    wait
    keep_arms ;;
  ablation)
    [ -f runs/r1-study-base/config.json ] || { log "ablation needs runs/r1-study-base: BASES=english $0 bases OUT"; exit 2; }
    if [ "${ZERO:-0}" = 1 ]; then
      timed zero-english-$seed examples/r1_study/run_zero.sh "$out/work/zero" 100 "$seed" "${zero_overrides[@]}" &
    fi
    arms
    wait
    keep_arms ;;
  pipeline)
    # RESUME=1 continues a pipeline an earlier call cut (finished stages are kept)
    resume=(); [ "${RESUME:-0}" = 1 ] && resume=(--resume)
    code=0
    timed pipeline-$seed python3 -m grpo.cli train recipes/r1-study-pipeline.yaml seed="$seed" logging.progress=false \
      "${resume[@]}" || code=$?
    # everything the run wrote except model weights and checkpoints: metrics, stage summaries, samples
    tar -czf "$out/work/pipeline-$seed.tar.gz" --exclude='*.safetensors' --exclude='*/checkpoints/*' \
      -C runs r1-study-pipeline
    [ "$code" = 0 ] || exit "$code"  # a cut run has no teacher yet; its metrics are packed above
    # the teacher (part 3) in parts of 15 MB, so a lost machine does not lose it: carry it back if needed
    tar -cf - -C runs/r1-study-pipeline/stages/rl_all model | split -b 15m - "$out/teacher.tar.part" ;;
  distill)
    timed distill-$seed python3 -m grpo.cli train examples/r1_study/distill.yaml name=r1-study-distill-$seed \
      seed="$seed" logging.progress=false
    tar -czf "$out/work/distill-$seed.tar.gz" --exclude='*.safetensors' --exclude='*/checkpoints/*' \
      -C runs r1-study-distill-$seed
    BASE=runs/r1-study-student-base RUN_PREFIX=r1-study-student-rl \
      timed student-rl-$seed examples/r1_study/run_zero.sh "$out/work/student" 150 "$seed" "${zero_overrides[@]}" ;;
  *) echo "unknown phase $phase"; exit 2 ;;
esac
