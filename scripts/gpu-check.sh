#!/usr/bin/env bash
# The one prepared GPU check, for a machine with a CUDA device (the device tool's H100/H200), in two halves
# that each fit one device call (under 8 minutes on an H100 with 16 cores); run `ops` then `e2e` back to back
# on the same warm machine, whose build folder the second reuses:
#   ops  builds the cuda preset for the card present (only what the check runs), runs the CUDA op tests, runs
#        them again under compute-sanitizer memcheck (bounded), and the CUDA op benchmarks;
#   e2e  (builds if needed) the manager, model and pipeline tests on CUDA, a generation of builtin:tiny, one
#        of a full-width model cut to 2 DiT blocks and 1 text layer at 1328 x 1328 under 4 GiB, and `vramkit
#        bench` on its transformer.
# No argument runs both. Each step has its own log, a failing (or timed-out) step does not stop the rest, and a
# short table comes last.
# With .gpu-build/ present (scripts/gpu-pack.sh, carried by the device tool) nothing is built here: the packed
# binaries and ctest files become build/cuda.
# GPU_CHECK_SANITIZER_S bounds the compute-sanitizer step (seconds, default 150; 0 skips it).
# Usage: scripts/gpu-check.sh [ops|e2e]   (logs in /tmp/gpu-check, packed into $OUT/gpu-check.tgz after every
# step when OUT is set: the device tool brings back at most 8 files)
set -uo pipefail
cd "$(dirname "$0")/.."
phase=${1:-all}
case "$phase" in ops|e2e|all) ;; *) echo "usage: scripts/gpu-check.sh [ops|e2e]" >&2; exit 2 ;; esac
out=/tmp/gpu-check
mkdir -p "$out"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '.')
arch=${arch:-90}
sanitizer_s=${GPU_CHECK_SANITIZER_S:-150}
declare -A result

prebuilt=false
if [ -f .gpu-build/source_dir ]; then
  prebuilt=true
  if [ ! -x build/cuda/bin/cuda_tests ]; then
    rm -rf build/cuda && mkdir -p build/cuda && tar xJf .gpu-build/build.tar.xz -C build/cuda
  fi
  export LD_LIBRARY_PATH="$PWD/build/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The binaries read tests/data, and the ctest files run build/cuda/bin, under the folder they were built in.
  built_in=$(cat .gpu-build/source_dir)
  if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
    mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
  fi
  [ "$(cat .gpu-build/arch)" = "$arch" ] || echo "warning: packed for sm_$(cat .gpu-build/arch), card is sm_$arch"
fi

step() {  # step NAME COMMAND...: runs a command, logs it, records pass/fail and seconds
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$out/$name.log" 2>&1
  local rc=$?
  case $rc in
    0) result[$name]="pass $((SECONDS - t0))s" ;;
    124) result[$name]="TIMEOUT $((SECONDS - t0))s" ;;  # cut by its `timeout`: see the end of its log
    *) result[$name]="FAIL (exit $rc) $((SECONDS - t0))s" ;;
  esac
  echo "-- $name: ${result[$name]}"
  if [ $rc = 0 ]; then
    tail -n 3 "$out/$name.log"
  else  # what failed, and gtest's messages (ctest runs with --output-on-failure)
    grep -E 'Failed|FAILED|Failure|rror|Expected|Which is|Value of|differ|\*\*\*' "$out/$name.log" | head -n 60
  fi
  if [ -n "${OUT:-}" ]; then tar czf "$OUT/gpu-check.tgz" -C /tmp gpu-check; fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/card.txt"
steps=()
targets=(cuda_tests cuda_model_tests bench_ops vramkit_cli)
if ! $prebuilt && { [ "$phase" != e2e ] || [ ! -x build/cuda/bin/cuda_model_tests ]; }; then
  step configure cmake --preset cuda -DVRAMKIT_CUDA_ARCHS="$arch" -DVRAMKIT_BENCH=ON
  step build cmake --build --preset cuda --target "${targets[@]}"
  steps+=(configure build)
fi
# The op tests (label cuda) apart from the model tests (label cuda too): the checks shared with the emulated
# device, instantiated as Cuda/<Model>OnDevice.<Check>/cuda, and the CUDA-only ones in suites named <Model>Cuda.
# (No op test is parameterized, and none of their suites ends in Cuda.)
model_suites='^(Cuda/|[A-Za-z]+Cuda[.])'
if [ "$phase" != e2e ]; then
  step cuda_tests timeout 200 ctest --preset cuda -L cuda -E "$model_suites" --timeout 120 --output-on-failure
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  # Bounded: memcheck slows every kernel down many times. cuDNN's tests stay out (its engines compile and run
  # their own kernels, slowest of all under memcheck; the buffers it reads and writes are ours, which the other
  # tests' kernels cover).
  if [ "$sanitizer_s" != 0 ]; then
    step sanitizer timeout "$sanitizer_s" "$sanitizer" --error-exitcode 1 --tool memcheck \
      build/cuda/bin/cuda_tests --gtest_filter='Cuda*-Cudnn*'
  fi
  step bench_ops timeout 120 stdbuf -oL build/cuda/bin/bench_ops --benchmark_filter='Cuda|Cudnn' --benchmark_min_time=0.2 \
    --benchmark_format=console
  steps+=(cuda_tests sanitizer bench_ops)
fi

if [ "$phase" != ops ]; then
  # End to end. The model tests one at a time (-j1): each pipeline test's arena takes the device's free memory.
  step cuda_model_tests timeout 240 ctest --preset cuda -L cuda -R "$model_suites" -j1 --timeout 120 \
    --output-on-failure
  vramkit=build/cuda/bin/vramkit
  step generate timeout 60 "$vramkit" generate --model builtin:tiny --prompt "a lighthouse at dusk" --device cuda \
    --width 256 --height 256 --steps 4 --seed 1 --out "$out/tiny.png" --stats "$out/generate_stats.json"
  # Full-size shapes, random weights: 2 of the 60 DiT blocks (1.4 GB of bf16) and 1 of the 28 text encoder
  # layers; outside $OUT, removed after. First a whole generation at 1328 x 1328 under a 4 GiB budget (every
  # component at its real width: the text encoder, the DiT streamed, the VAE's full-size decode), then `vramkit
  # bench` on its transformer.
  model=$(mktemp -d /tmp/vramkit-gpu-check-model.XXXXXX)
  step make_test_model timeout 90 "$vramkit" make-test-model --arch qwen-image --layers 2 --text-layers 1 \
    --out "$model" --dtype bf16
  step generate_full timeout 120 "$vramkit" generate --model "$model" --prompt "a lighthouse at dusk" \
    --device cuda --width 1328 --height 1328 --steps 2 --seed 1 --offload dynamic --vram-limit 4 \
    --out "$out/full.png" --stats "$out/generate_full_stats.json"
  step bench timeout 150 "$vramkit" bench --model "$model" --device cuda --width 1328 --height 1328 --repeat 5 \
    --json "$out/bench.json"
  rm -rf "$model"
  steps+=(cuda_model_tests generate make_test_model generate_full bench)
fi

echo
echo "== gpu-check $phase on $(cut -d, -f1 "$out/card.txt") (sm_$arch)"
printf '%-24s %s\n' step result
for k in "${steps[@]}"; do
  printf '%-24s %s\n' "$k" "${result[$k]:-not run}"
done
if [ "$phase" != ops ]; then
  printf '%-24s %s\n' "generate stats" "$out/generate_stats.json" "1328x1328 stats" \
    "$out/generate_full_stats.json" "bench json" "$out/bench.json"
  echo
  echo "== vramkit bench, 2 full-size DiT blocks at 1328 x 1328 (from $out/bench.log)"
  cat "$out/bench.log" 2>/dev/null
fi
