#!/usr/bin/env bash
# The GPU benchmark run of docs/benchmarks.md, for a machine with a CUDA device (the device tool's H100/H200):
# writes a test model with the real block shapes, runs `vramkit bench --device cuda` and both peer scripts on it
# (same model, resolution and text tokens), and leaves what tools/bench/plot_benchmarks.py reads in one folder:
#   card.txt     nvidia-smi's name, memory and driver of the card (the plot's title: --gpu)
#   bench.json   `vramkit bench --json`;  bench.txt: its table
#   peers.jsonl  one JSON line per peer mode (diffusers_offload.py, then diffsynth_vram.py)
#   <peer>.log   each peer script's output (a peer that cannot run fails alone; the others still run)
# Needs build/cuda/bin/vramkit (scripts/gpu-check.sh builds it) and python3 with torch. The peers' packages
# missing there (diffusers, diffsynth and their needs) are installed from wheels in .whl/ when that folder exists
# (docs/benchmarks.md, "On a GPU", says how to make it).
# Usage: tools/bench/run_gpu_bench.sh [BLOCKS [PIXELS]]   (default: 8 blocks, 1328x1328; results in
#        ${OUT:-/tmp}/bench/)
set -uo pipefail
cd "$(dirname "$0")/../.."
blocks=${1:-8}
pixels=${2:-1328}
out=${OUT:-/tmp}/bench
model=/tmp/qwen-image-$blocks
. tools/bench/gpu_bench_env.sh
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site || exit 1
fi

# No text-encoder layers (only its embedding is written): neither vramkit bench nor the peers read it.
[ -f "$model/model_index.json" ] ||
  "$vramkit" make-test-model --arch qwen-image --layers "$blocks" --text-layers 0 --out "$model" || exit 1
workload=(--model "$model" --width "$pixels" --height "$pixels" --text-tokens 128)
"$vramkit" --log-level error bench "${workload[@]}" --device cuda --json "$out/bench.json" | tee "$out/bench.txt" ||
  exit 1
rm -f "$out/peers.jsonl"
for peer in diffusers_offload diffsynth_vram; do
  if ! PYTHONUNBUFFERED=1 python3 "tools/peers/$peer.py" "${workload[@]}" --json "$out/peers.jsonl" \
    >"$out/$peer.log" 2>&1; then
    echo "$peer failed; the end of $out/$peer.log:"
    tail -n 3 "$out/$peer.log"
  fi
done
