#!/usr/bin/env bash
# The case study of docs/results.md: every contender on instances/paper (the LAMBO paper's
# setting, 50 UEs x 4 servers), instances/hetero (mecopt's harder family), instances/large
# (hetero with 100..200 UEs) and instances/tight (capacity-bound energy), both objectives
# (the paper's two prompts), through `mecopt bench`, with a certified gap (--bound) for
# every run. Regenerates the figures and per-family summaries in docs/figures/.
#
#   bash benchmarks/case_study.sh            # from the repository root
#   RESUME=1 bash benchmarks/case_study.sh   # finish an interrupted run
#   FAMILIES=large SEEDS_CHECK=0 bash benchmarks/case_study.sh   # one family, no seed check
#
# Raw results (runs.jsonl, results.csv/json, summary.md, plots) go to runs/case-study/<family>.
# DROO and ARE run on the paper family only: their networks have a fixed input size and
# the shipped checkpoints are trained for 50 UEs x 4 servers (as in the paper), so they
# refuse hetero's 20..100 UEs x 2..8 servers (and large's).
set -euo pipefail
cd "$(dirname "$0")/.."

MECOPT=${MECOPT:-mecopt}
OUT=${OUT:-runs/case-study}
TIME_LIMIT=${TIME_LIMIT:-10}   # seconds per run (see docs/results.md)
WORKERS=${WORKERS:-2}
SAMPLING=${SAMPLING:-64}       # decodes in LAMBO's sampling mode: the greedy one + 63 sampled
COMMON=local,random,greedy,greedy_lns=greedy:lns=1,de,pg
LEARNED=lambo,lambo_s=lambo:samples=$SAMPLING,lambo_lns=lambo:polish=true:lns=1
PAPER_METHODS=${PAPER_METHODS:-$COMMON,droo,are,highs,$LEARNED}
HETERO_METHODS=${HETERO_METHODS:-$COMMON,highs,$LEARNED}
FAMILIES=${FAMILIES:-paper hetero large tight}
if [[ -n "${RESUME:-}" ]]; then MODE=--resume; else MODE=--force; fi

for family in $FAMILIES; do
  if [[ $family == paper ]]; then methods=$PAPER_METHODS; else methods=$HETERO_METHODS; fi
  start=$(date +%s)
  "$MECOPT" bench "instances/$family" --methods "$methods" --objectives latency,energy \
    --time-limit "$TIME_LIMIT" --seeds 0 --bound --workers "$WORKERS" "$MODE" \
    --out "$OUT/$family"
  echo "$family: $(( $(date +%s) - start )) s wall" >&2
  for plot in bars-latency bars-energy gap-vs-time; do
    cp "$OUT/$family/$plot.png" "docs/figures/$family-$plot.png"
  done
  cp "$OUT/$family/summary.md" "docs/figures/$family-summary.md"
  cp "$OUT/$family/results.csv" "docs/figures/$family-results.csv"
done

# Seed spread of the seeded contenders (docs/results.md, "Seed spread"): the same settings,
# seeds 0, 1 and 2. Skip with SEEDS_CHECK=0.
if [[ "${SEEDS_CHECK:-1}" != 0 ]]; then
  for family in paper hetero; do
    start=$(date +%s)
    "$MECOPT" bench "instances/$family" --methods "random,de,pg,lambo_s=lambo:samples=$SAMPLING" \
      --objectives latency,energy --time-limit "$TIME_LIMIT" --seeds 0,1,2 \
      --workers "$WORKERS" "$MODE" --out "$OUT/seeds-$family"
    echo "seeds-$family: $(( $(date +%s) - start )) s wall" >&2
    cp "$OUT/seeds-$family/summary.md" "docs/figures/seeds-$family-summary.md"
    cp "$OUT/seeds-$family/results.csv" "docs/figures/seeds-$family-results.csv"
  done
fi
