#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset, clang) and fuzzes each parser for SECONDS (default 60) on a
# copy of its seed corpus, so the repository's corpora are not modified:
#   safetensors_fuzz   the safetensors header parser        (tests/fuzz/corpus/safetensors)
#   tokenizer_fuzz     a prompt's way through the tokenizer  (tests/fuzz/corpus/tokenizer)
#   model_config_fuzz  the JSON files of a model folder      (tests/fuzz/corpus/model_config)
# Exits non-zero on a finding; the crashing input is kept (its path is printed) to add to the target's corpus
# once fixed. VRAMKIT_FUZZ_BUILD_DIR overrides the build directory (default build/fuzz).
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors_fuzz tokenizer_fuzz model_config_fuzz)
build_dir=${VRAMKIT_FUZZ_BUILD_DIR:-build/fuzz}

cmake --preset fuzz -B "$build_dir" >/dev/null
cmake --build "$build_dir" --target "${targets[@]}" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

for target in "${targets[@]}"; do
  name=${target%_fuzz}
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$name" "$work/corpus"
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  echo "fuzz: $target for ${seconds}s (work dir $work)"
  if ! "$build_dir/bin/$target" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" 2>"$work/log"; then
    tail -n 60 "$work/log"
    echo "fuzz: $target FAILED, crashing input kept in $work" >&2
    exit 1
  fi
  tail -n 6 "$work/log"
  rm -rf "$work"
  echo "fuzz: $target, no finding in ${seconds}s"
done
