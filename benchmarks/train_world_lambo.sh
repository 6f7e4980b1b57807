#!/usr/bin/env bash
# Retrains the shipped learned/checkpoints/lambo-w.pt: lambo-s fine-tuned on the randomized
# training world (mecopt.generators, the "world" family) together with paper and hetero, in
# two stages, the second with the efficiency energy order.
#
#   bash benchmarks/train_world_lambo.sh            # 160 minutes of wall time
#   OUT=runs/lambo-w DEVICE=cuda bash benchmarks/train_world_lambo.sh
#
# Both stages are `mecopt train` runs of actor-critic only, one paper, one hetero and one
# world step in turn, hetero and world instances of up to 200 UEs, 16 samples per row, each
# row's advantage scaled by its own spread:
# 1. from the shipped lambo-s (learned/checkpoints/lambo-s.pt, itself retrained by
#    train_shipped_lambo.sh), 100 minutes, the regret energy order (lambo-s's);
# 2. from stage 1, 60 minutes, `--energy-order efficiency` (docs/lambo.md, "Decoding"): the
#    network learns to decide energy rows with the UEs that must offload first and then by
#    energy saved per unit of capacity.
# Each stage keeps its best validation step (greedy decoding against the greedy heuristic,
# on paper, hetero and world instances). The budget is wall time, so the step count (and the
# weights) depend on the machine's speed and load; the seed fixes everything else. The
# result is $OUT/lambo-w.pt; copy it to learned/checkpoints/ to ship it.
set -euo pipefail
cd "$(dirname "$0")/.."
MECOPT=${MECOPT:-mecopt}
OUT=${OUT:-runs/lambo-w}
DEVICE=${DEVICE:-cpu}
MINUTES=${MINUTES:-100}  # stage 1; smaller values only to try the script out
MINUTES2=${MINUTES2:-60}  # stage 2
INIT=${INIT:-learned/checkpoints/lambo-s.pt}
mkdir -p "$OUT"

"$MECOPT" train --preset lambo-s --seed 11 --minutes "$MINUTES" --device "$DEVICE" \
  --init "$INIT" --imitation 0 --lr-acl 1e-4 --samples 16 --advantage row \
  --families paper,hetero,world --max-ues 200 --force -o "$OUT/lambo-w-regret.pt"
"$MECOPT" train --preset lambo-s --seed 11 --minutes "$MINUTES2" --device "$DEVICE" \
  --init "$OUT/lambo-w-regret.pt" --energy-order efficiency --imitation 0 --lr-acl 1e-4 \
  --samples 16 --advantage row --families paper,hetero,world --max-ues 200 \
  --force -o "$OUT/lambo-w.pt"
