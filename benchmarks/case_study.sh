#!/usr/bin/env bash
# The case study of docs/results.md: every contender on instances/paper (the LAMBO paper's
# setting) and instances/hetero (mecopt's harder family), both objectives (the paper's two
# prompts), through `mecopt bench`. Regenerates the figures in docs/figures/.
#
#   bash benchmarks/case_study.sh            # from the repository root; ~25 min on 2 busy cores
#   RESUME=1 bash benchmarks/case_study.sh   # finish an interrupted run
#
# Raw results (runs.jsonl, results.csv/json, summary.md, plots) go to runs/case-study/<family>.
set -euo pipefail
cd "$(dirname "$0")/.."

MECOPT=${MECOPT:-mecopt}
OUT=${OUT:-runs/case-study}
TIME_LIMIT=${TIME_LIMIT:-10}   # seconds per run; see docs/results.md for why
WORKERS=${WORKERS:-1}
METHODS=${METHODS:-local,random,greedy,de,highs}
if [[ -n "${RESUME:-}" ]]; then MODE=--resume; else MODE=--force; fi

for family in paper hetero; do
  start=$(date +%s)
  "$MECOPT" bench "instances/$family" --methods "$METHODS" --objectives latency,energy \
    --time-limit "$TIME_LIMIT" --seeds 0 --workers "$WORKERS" "$MODE" --out "$OUT/$family"
  echo "$family: $(( $(date +%s) - start )) s wall" >&2
  for plot in bars-latency bars-energy gap-vs-time; do
    cp "$OUT/$family/$plot.png" "docs/figures/$family-$plot.png"
  done
  cp "$OUT/$family/summary.md" "docs/figures/$family-summary.md"
  cp "$OUT/$family/results.csv" "docs/figures/$family-results.csv"
done
