#!/usr/bin/env bash
# Held-out validation (docs/results.md, "Held-out families"): instances that no method was
# tuned on and that are not in the shipped library, with SCIP as an external anchor in the
# same run and a certified gap (mecopt.bound) for every answer.
#
#   bash benchmarks/holdout.sh                  # from the repository root
#   N=3 TIME_LIMIT=30 bash benchmarks/holdout.sh
#
# Families: `tight` at seeds 500.. (the library holds seeds 0..19) and `sparse` (the
# held-out validation family, never shipped) at seeds 0... Each folder gets a
# reference.json of the optima highs proves within REF_LIMIT seconds (the others are left
# out, and their gaps are then to the best value found in the run).
set -euo pipefail
cd "$(dirname "$0")/.."

MECOPT=${MECOPT:-mecopt}
OUT=${OUT:-runs/holdout}
N=${N:-5}                      # instances per family
TIME_LIMIT=${TIME_LIMIT:-60}   # seconds per run (exact methods and DE use all of it)
REF_LIMIT=${REF_LIMIT:-60}     # seconds per reference solve
WORKERS=${WORKERS:-2}
METHODS=${METHODS:-greedy,greedy_lns=greedy:lns=1,lambo,lambo_net=lambo:guard=false,lambo_polish=lambo:polish=true,lambo_lns=lambo:polish=true:lns=1,de,highs,scip}

declare -A FIRST_SEED=([tight]=500 [sparse]=0)
for family in tight sparse; do
  dir="$OUT/$family"
  mkdir -p "$dir"
  first=${FIRST_SEED[$family]}
  for ((k = 0; k < N; k++)); do
    seed=$((first + k))
    "$MECOPT" generate --family "$family" --seed "$seed" -o "$dir/$family-$seed.json" --force
  done
  start=$(date +%s)
  "$MECOPT" reference "$dir" -o "$dir/reference.json" --time-limit "$REF_LIMIT" --force
  echo "$family reference: $(( $(date +%s) - start )) s wall" >&2
  start=$(date +%s)
  "$MECOPT" bench "$dir" --methods "$METHODS" --objectives latency,energy \
    --time-limit "$TIME_LIMIT" --seeds 0 --bound --workers "$WORKERS" --force \
    --out "$OUT/bench-$family"
  echo "$family bench: $(( $(date +%s) - start )) s wall" >&2
  cp "$OUT/bench-$family/summary.md" "docs/figures/holdout-$family-summary.md"
  cp "$OUT/bench-$family/results.csv" "docs/figures/holdout-$family-results.csv"
done
