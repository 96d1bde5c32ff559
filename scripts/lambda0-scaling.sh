#!/bin/bash
# lambda_0 of MNIST against n (docs/lambda0-scaling.md): each run is one `ntkgd lambda0` call whose
# JSON lands in results/lambda0-scaling/<tag>/; a finished run (its .done marker) is skipped, so the
# script resumes. NTKGD_TREE: the checkout to run (default: this one), e.g. a git worktree of a fixed
# commit, so that editing the code during the two hours of runs changes none of them.
# Then: uv run python scripts/lambda0_scaling_report.py
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/results/lambda0-scaling"
mkdir -p "$OUT"
cd "${NTKGD_TREE:-$ROOT}"
run() {  # tag, then ntkgd lambda0 arguments
  local tag=$1; shift
  [ -e "$OUT/$tag.done" ] && return
  mkdir -p "$OUT/$tag"
  /usr/bin/time -v uv run ntkgd lambda0 --data mnist --no-progress --out "$OUT/$tag" "$@" \
    > "$OUT/$tag/stdout.txt" 2> "$OUT/$tag/stderr.txt" && touch "$OUT/$tag.done"
}
FC="--arch fc --depth 3"
RN="--arch resnet --depth 10"
for n in 1000 2000 5000 10000; do
  for s in 0 1 2; do
    run fc-n$n-s$s $FC --n $n --seed $s
    run resnet-n$n-s$s $RN --n $n --seed $s
  done
done
run fc-n60000-packed $FC --n 60000 --method packed
run resnet-n60000-packed $RN --n 60000 --method packed
for s in 0 1 2; do
  run fc-n20000-s$s $FC --n 20000 --seed $s
  run resnet-n20000-s$s $RN --n 20000 --seed $s
done
run fc-n20000-s0-packed $FC --n 20000 --seed 0 --method packed
run resnet-n20000-s0-packed $RN --n 20000 --seed 0 --method packed
run fc-n40000-s0 $FC --n 40000 --seed 0
run fc-n40000-s0-packed $FC --n 40000 --seed 0 --method packed
run resnet-n40000-s0 $RN --n 40000 --seed 0
run resnet-n40000-s0-packed $RN --n 40000 --seed 0 --method packed
