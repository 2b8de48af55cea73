#!/usr/bin/env bash
# Configures and builds one CMake preset (default: cpu) into build/<preset>; further arguments go to the
# configure step (e.g. -DVRAMKIT_CUDA_ARCHS=90).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-cpu}
shift || true
cmake --preset "$preset" "$@" >/dev/null
cmake --build --preset "$preset"
