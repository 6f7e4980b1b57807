#!/usr/bin/env bash
# The checks of LAMBO that need a GPU (`--device cuda`), as one short script for a lent GPU
# machine (about 4 minutes). CI has no GPU, so this is run by hand where one is lent:
#
#   bash benchmarks/device_check.sh        # logs and results under ${OUT:-runs/device-check}
#
# It expects a python3 that already has torch with CUDA, numpy, scipy, click, matplotlib and
# pytest (the workplace's GPU image has them) and installs mecopt itself without
# dependencies, offline. The greedy heuristic (training's reference cost, bench_lambo's
# `greedy` row) and lambo's guard solve an LP with highspy, which that image lacks: where it
# has no package index, bring its wheel in a folder WHEELS (default .whl) and the script
# installs what is there first, for example, on a machine that has pip access, for a Python
# 3.12 target:
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl highspy==1.16.0
#
# Pyomo and pymoo are not needed.
#  1. tests/test_cuda.py: greedy decoding on the GPU against the CPU, solve(device="cuda"),
#     and a few ACL steps on the GPU whose checkpoint the CPU loads;
#  2. bench_lambo.py --device cuda: gaps on instances/paper, hetero and large, batched
#     throughput and the per-call latency on the GPU;
#  3. ACL on the GPU for TRAIN_MINUTES (2) with the shipped recipe and a larger batch, to
#     measure steps per minute against the CPU's (docs/lambo.md, "Training");
#  4. a few ACL steps of the paper-size preset lambo-m (580 M parameters) on the GPU, timed.
# A failing step is reported and the next one still runs; the exit status is the first
# failure's. DEVICE=cpu runs steps 2-4 on the CPU instead (a smoke test of the script).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device-check}
PY=${PYTHON:-python3}
TRAIN_MINUTES=${TRAIN_MINUTES:-2}
M_STEPS=${M_STEPS:-4}
M_BATCH=${M_BATCH:-8}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
status=0

# Runs one step with a wall limit, its output to a log (for training, only the log's last
# lines reach the terminal); a failure is logged, remembered and does not stop the rest.
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    local start rc
    start=$(date +%s)
    if [ "$name" != "${name#train}" ]; then
        timeout "$limit" "$@" >"$OUT/$log" 2>&1
        rc=$?
        tail -n 4 "$OUT/$log"
    else
        timeout "$limit" "$@" 2>&1 | tee "$OUT/$log"
        rc=${PIPESTATUS[0]}
    fi
    echo "== $name: rc $rc, $(( $(date +%s) - start )) s wall" | tee -a "$OUT/steps.txt"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}

MECOPT=("$PY" -c "from mecopt.cli.main import main; main()")

WHEELS=${WHEELS:-.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/mecopt-site \
        "$WHEELS"/*.whl && export PYTHONPATH=/tmp/mecopt-site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -c "import highspy" 2>/dev/null \
    || echo "warning: no highspy for $PY: the greedy and training steps will fail (see WHEELS above)"

"$PY" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -n 3
{
    "$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
          '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
    echo "cpus $(nproc)"
} | tee "$OUT/device.txt"

step pytest 240 pytest.log "$PY" -m pytest -q -rs tests/test_cuda.py

step bench 240 "bench-$DEVICE.log" "$PY" benchmarks/bench_lambo.py --device "$DEVICE" \
    --methods greedy,lambo,lambo-best --families paper,hetero,large \
    --json "$OUT/bench-$DEVICE.json"

# Training output (progress lines) goes to the log only; its last lines are printed.
train_limit=$(awk "BEGIN { print int($TRAIN_MINUTES * 60 + 120) }")
step train-s "$train_limit" train.log "${MECOPT[@]}" train --preset lambo-s \
    --seed 0 --minutes "$TRAIN_MINUTES" --device "$DEVICE" --batch 32 --force -o "$OUT/acl-$DEVICE.pt"

# The paper-size network: does a step fit and how long does it take (no checkpoint kept:
# it is 2.3 GB).
step train-m 240 train-m.log "${MECOPT[@]}" train --preset lambo-m --seed 0 \
    --steps "$M_STEPS" --device "$DEVICE" --batch "$M_BATCH" --samples 8 --imitation 0 \
    --force -o "${TMPDIR:-/tmp}/lambo-m-$DEVICE.pt"

exit "$status"
