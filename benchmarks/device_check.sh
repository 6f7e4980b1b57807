#!/usr/bin/env bash
# The checks of LAMBO that need a GPU (`--device cuda`), as one short script for a lent GPU
# machine (about 6 minutes). CI has no GPU, so this is run by hand where one is lent:
#
#   bash benchmarks/device_check.sh        # logs and results under ${OUT:-runs/device-check}
#
# It expects a python3 that already has torch with CUDA, numpy, scipy, click and pytest (the
# workplace's GPU image has them) and installs mecopt itself without dependencies, offline:
# these checks use mecopt's core and mecopt.learned only, not pyomo, highspy or pymoo.
#  1. tests/test_cuda.py: greedy decoding on the GPU against the CPU, solve(device="cuda"),
#     and a few ACL steps on the GPU whose checkpoint the CPU loads;
#  2. bench_lambo.py --device cuda: gaps on instances/paper and instances/hetero, batched
#     throughput and the per-call latency on the GPU;
#  3. ACL on the GPU for TRAIN_MINUTES (3) with the shipped recipe and a larger batch, to
#     measure steps per minute against the CPU's (docs/lambo.md, "Training").
# DEVICE=cpu runs steps 2 and 3 on the CPU instead (a smoke test of the script itself).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device-check}
PY=${PYTHON:-python3}
TRAIN_MINUTES=${TRAIN_MINUTES:-3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

"$PY" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -n 3
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')" \
  | tee "$OUT/device.txt"

"$PY" -m pytest -q -rs tests/test_cuda.py 2>&1 | tee "$OUT/pytest.log"

"$PY" benchmarks/bench_lambo.py --device "$DEVICE" --methods greedy,lambo,lambo-best \
  --families paper,hetero --json "$OUT/bench-$DEVICE.json" 2>&1 | tee "$OUT/bench-$DEVICE.log"

start=$(date +%s)
"$PY" -c "from mecopt.cli.main import main; main()" train --preset lambo-s --seed 0 \
  --minutes "$TRAIN_MINUTES" --device "$DEVICE" --batch 32 -o "$OUT/acl-$DEVICE.pt" \
  2>&1 | tee "$OUT/train.log" | tail -n 4
echo "train: $(( $(date +%s) - start )) s wall" | tee -a "$OUT/train.log"
