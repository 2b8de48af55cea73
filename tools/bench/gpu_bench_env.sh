# Sourced from the repository root by the GPU bench scripts (tools/bench/run_*.sh) once they have set $out:
# $vramkit, the cuda build's binary (scripts/gpu-check.sh unpacks or builds it), the shared libraries of a
# build packed elsewhere (scripts/gpu-pack.sh) on the library path, and the card's name, memory and driver
# in $out/card.txt (the plot's title).
vramkit=build/cuda/bin/vramkit
[ -d build/cuda/lib ] && export LD_LIBRARY_PATH="$PWD/build/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ ! -x "$vramkit" ]; then
  echo "no $vramkit: run scripts/gpu-check.sh first (or cmake --preset cuda && cmake --build --preset cuda)" >&2
  exit 1
fi
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/card.txt"
