#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on this machine (no GPU needed: nvcc and the CUDA libraries suffice) and
# packs it into .gpu-build/ (ignored), for the device tool to carry, so that the lent machine spends none of its
# minutes compiling:
#   run(command="scripts/gpu-check.sh", carry=[".gpu-build"])
# The pack holds the four binaries, the shared libraries they need that the GPU image lacks, and the ctest files
# of the cuda preset. Both name the folder they were built
# in (the tests read their golden files from there), which gpu-check.sh links to the device's checkout.
# Usage: scripts/gpu-pack.sh [compute capability without the dot, default 90 (H100 / H200)]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
cmake --preset cuda -DVRAMKIT_CUDA_ARCHS="$arch" -DVRAMKIT_BENCH=ON >/dev/null
cmake --build --preset cuda --target cuda_tests cuda_model_tests bench_ops vramkit_cli
rm -rf .gpu-build /tmp/vramkit-gpu-pack
pack=/tmp/vramkit-gpu-pack
mkdir -p "$pack/bin" "$pack/lib" .gpu-build
binaries=(cuda_tests cuda_model_tests bench_ops vramkit)
for b in "${binaries[@]}"; do cp "build/cuda/bin/$b" "$pack/bin/"; done
# The shared libraries they need that the GPU image may lack (seen missing there: this machine's ICU and Google
# Benchmark, other versions): all but the CUDA toolkit's and those every Linux or the image's toolchain has.
base='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libgfortran|libquadmath|libopenblas|libpng16|libz)\.'
for b in "${binaries[@]}"; do ldd "build/cuda/bin/$b"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' |
  grep -v /cuda/ | grep -Ev "$base" | sort -u | while read -r name path; do cp -L "$path" "$pack/lib/$name"; done
# The test lists gtest_discover_tests wrote at build time, and the CTestTestfile.cmake tree that includes them;
# the other test binaries stay behind (ctest lists them as *_NOT_BUILT, without the label cuda).
(cd build/cuda && find . -name CTestTestfile.cmake -o -name '*_include.cmake' -o -name 'cuda_*tests\[1\]_tests.cmake') |
  while read -r f; do
    mkdir -p "$pack/$(dirname "$f")"
    cp "build/cuda/$f" "$pack/$f"
  done
# Compressed: the device call carries at most 64 MiB, and ICU's data alone is 31 MB.
tar cJf .gpu-build/build.tar.xz -C "$pack" .
rm -rf "$pack"
echo "$PWD" >.gpu-build/source_dir
echo "$arch" >.gpu-build/arch
ls -la .gpu-build
