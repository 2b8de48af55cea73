#!/usr/bin/env bash
# The one prepared GPU check, for a machine with a CUDA device (the device tool's H100/H200):
# builds the cuda preset for the card present, runs the CUDA tests, runs them again under compute-sanitizer,
# runs the benchmarks, and prints a short table last. Budget: under 8 minutes.
# Usage: scripts/gpu-check.sh            (results also go to $OUT/gpu-check/ when OUT is set)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}/gpu-check
mkdir -p "$out"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '.')
arch=${arch:-90}
declare -A result

step() {  # step NAME COMMAND...: runs a command, logs it, records pass/fail and seconds
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then result[$name]="pass $((SECONDS - t0))s"; else result[$name]="FAIL $((SECONDS - t0))s"; fi
  tail -n 5 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/card.txt"
step configure cmake --preset cuda -DVRAMKIT_CUDA_ARCHS="$arch" -DVRAMKIT_BENCH=ON
step build cmake --build --preset cuda
step cuda_tests ctest --preset cuda -L cuda --timeout 300
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
step sanitizer "$sanitizer" --error-exitcode 1 --tool memcheck build/cuda/bin/cuda_tests
for b in build/cuda/bin/bench_*; do
  [ -x "$b" ] || continue
  step "$(basename "$b")" "$b" --benchmark_min_time=0.2 --benchmark_format=console
done

echo
echo "== gpu-check on $(cut -d, -f1 "$out/card.txt") (sm_$arch)"
printf '%-24s %s\n' step result
for k in configure build cuda_tests sanitizer $(ls build/cuda/bin 2>/dev/null | grep '^bench_'); do
  printf '%-24s %s\n' "$k" "${result[$k]:-not run}"
done
