#!/usr/bin/env bash
# Builds the cpu preset and runs every test. CUDA tests (label `cuda`) are only built by the cuda preset and
# skip cleanly without a GPU. Usage: scripts/test.sh [preset]   (cpu, asan or cuda; default cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-cpu}
# ctest runs two test programs at once: OpenMP threads that spin-wait after each parallel region would take the
# other program's core (the VAE tests ran 2.5x slower so on a loaded 2-core machine).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
scripts/setup.sh >/dev/null
scripts/build.sh "$preset"
ctest --preset "$preset" -j2 --timeout 600
