#!/usr/bin/env bash
# Builds the cpu preset and runs every test. CUDA tests (label `cuda`) are only built by the cuda preset and
# skip cleanly without a GPU. Usage: scripts/test.sh [preset]   (cpu, asan or cuda; default cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-cpu}
scripts/setup.sh >/dev/null
scripts/build.sh "$preset"
ctest --preset "$preset" -j2 --timeout 600
