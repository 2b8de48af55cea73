#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on this machine (no GPU needed: nvcc and the CUDA libraries suffice) and
# packs it into .gpu-build/ (ignored), for the device tool to carry, so that the lent machine spends none of its
# minutes compiling:
#   run(command="scripts/gpu-check.sh", carry=[".gpu-build"])
# The pack holds the four binaries and the ctest files of the cuda preset. Both name the folder they were built
# in (the tests read their golden files from there), which gpu-check.sh links to the device's checkout.
# Usage: scripts/gpu-pack.sh [compute capability without the dot, default 90 (H100 / H200)]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
cmake --preset cuda -DVRAMKIT_CUDA_ARCHS="$arch" -DVRAMKIT_BENCH=ON >/dev/null
cmake --build --preset cuda --target cuda_tests cuda_model_tests bench_ops vramkit_cli
rm -rf .gpu-build
mkdir -p .gpu-build/bin
cp build/cuda/bin/{cuda_tests,cuda_model_tests,bench_ops,vramkit} .gpu-build/bin/
# The test lists gtest_discover_tests wrote at build time, and the CTestTestfile.cmake tree that includes them;
# the other test binaries stay behind (ctest lists them as *_NOT_BUILT, without the label cuda).
(cd build/cuda && find . -name CTestTestfile.cmake -o -name 'cuda_*tests\[1\]_*.cmake') | while read -r f; do
  mkdir -p ".gpu-build/$(dirname "$f")"
  cp "build/cuda/$f" ".gpu-build/$f"
done
echo "$PWD" >.gpu-build/source_dir
echo "$arch" >.gpu-build/arch
du -sh .gpu-build
