#!/usr/bin/env bash
# Builds a preset and runs every test. Usage: scripts/test.sh [preset]   (cpu, cuda or asan)
# Default: the cuda preset where a CUDA compiler is installed (every test is built, the CUDA kernels and their
# tests included; the CUDA tests, label `cuda`, skip cleanly without a GPU), built for this machine's GPU or,
# without one, for sm_90 alone; else the cpu preset.
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc_found() { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
if [ $# -gt 0 ]; then preset=$1; elif nvcc_found; then preset=cuda; else preset=cpu; fi
configure=()
if [ "$preset" = cuda ]; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '.' || true)
  configure=(-DVRAMKIT_CUDA_ARCHS="${arch:-90}")
fi
# ctest runs two test programs at once: OpenMP threads that spin-wait after each parallel region would take the
# other program's core (the VAE tests ran 2.5x slower so on a loaded 2-core machine).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
scripts/setup.sh >/dev/null
scripts/build.sh "$preset" "${configure[@]}"
ctest --preset "$preset" -j2 --timeout 600
