#!/usr/bin/env bash
# Issue 10's full-model target on a GPU: the whole 60-block Qwen-Image DiT (random weights, the real shapes),
# batched CFG (both branches in one batch of 2) and the modulation precomputed, fully resident in bf16
# ("basic") against budgets of LIMIT GiB (fp8 storage, fp8 with the native GEMM, bf16 storage). The target:
# under 4 GiB within 10% of basic's time per step.
# Needs build/cuda/bin/vramkit (scripts/gpu-check.sh unpacks or builds it), 42 GB of disk under /tmp for the
# model (written once, kept for a rerun on the same machine) and a GPU that holds 41 GB of bf16 weights.
# Usage: tools/bench/run_full_target.sh [LIMIT_GIB [PIXELS]]   (default 4, 1328; results in ${OUT:-/tmp}/full/)
set -uo pipefail
cd "$(dirname "$0")/../.."
limit=${1:-4}
pixels=${2:-1328}
out=${OUT:-/tmp}/full
vramkit=build/cuda/bin/vramkit
model=/tmp/qwen-image-60
# The shared libraries of a build packed elsewhere (scripts/gpu-pack.sh; gpu-check.sh unpacks it there).
[ -d build/cuda/lib ] && export LD_LIBRARY_PATH="$PWD/build/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$out"
[ -x "$vramkit" ] || { echo "no $vramkit: run scripts/gpu-check.sh first" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/card.txt"
[ -f "$model/model_index.json" ] ||
  "$vramkit" make-test-model --arch qwen-image --layers 60 --text-layers 0 --out "$model" || exit 1
"$vramkit" --log-level error bench --model "$model" --width "$pixels" --height "$pixels" --text-tokens 128 \
  --cfg 4 --device cuda --modes "basic,limit-$limit,limit-$limit-fp8-gemm,limit-$limit-bf16" \
  --json "$out/bench.json" | tee "$out/bench.txt"
