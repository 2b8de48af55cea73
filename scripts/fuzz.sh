#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset, clang) and fuzzes the safetensors parser for SECONDS
# (default 60) on a copy of the seed corpus, so the repository's corpus is not modified. Exits non-zero on a
# finding; the crashing input is kept (its path is printed) to add to tests/fuzz/corpus/safetensors as an
# invalid-* seed once fixed. VRAMKIT_FUZZ_BUILD_DIR overrides the build directory (default build/fuzz).
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build_dir=${VRAMKIT_FUZZ_BUILD_DIR:-build/fuzz}

cmake --preset fuzz -B "$build_dir" >/dev/null
cmake --build "$build_dir" --target safetensors_fuzz --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

work=$(mktemp -d)
trap 'rm -rf "$work/corpus"' EXIT
cp -r tests/fuzz/corpus/safetensors "$work/corpus"
echo "fuzz: safetensors parser for ${seconds}s (work dir $work)"
if ! "$build_dir/bin/safetensors_fuzz" "$work/corpus" -dict=tests/fuzz/safetensors.dict \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" 2>"$work/log"; then
  tail -n 60 "$work/log"
  echo "fuzz: FAILED, crashing input kept in $work" >&2
  exit 1
fi
tail -n 15 "$work/log"
rm -rf "$work"
echo "fuzz: no finding in ${seconds}s"
