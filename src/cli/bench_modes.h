// The memory modes `vramkit bench` measures, by the short names `--modes` takes: DiffSynth-Studio's
// documented configurations of the transformer, each as an --offload preset, a storage dtype and a
// vram_limit.
//
//   basic        none: everything resident in bf16 (also the compute ceiling of every other mode)
//   fp8          fp8: everything resident in fp8, upcast per layer
//   stream-bf16  dynamic, bf16 in pinned host memory, vram_limit 0: every layer streamed
//   stream-fp8   dynamic, fp8 in pinned host memory, vram_limit 0
//   dynamic-25, dynamic-50, dynamic-75
//                dynamic, fp8: vram_limit = the streaming ring + 25/50/75 % of the fp8 weights, the rest
//                streamed
//   disk-warm    disk, vram_limit 0: every layer read from the files each forward, page cache as it is
//   disk-cold    the same with the files dropped from the page cache before every forward
//   fp8-gemm     fp8 with the native fp8 GEMM (--fp8-gemm): the linears multiply in fp8, nothing upcast
//   stream-fp8-gemm  stream-fp8 with the native fp8 GEMM
//   limit-G, limit-G-bf16, limit-G-fp8-gemm  (not in the default list; G in GiB, e.g. limit-4)
//                dynamic, fp8 (bf16; fp8 with the native GEMM) under vram_limit = G GiB: the planner keeps
//                what fits resident and streams the rest (issue 10's "full DiT under 4 GiB")
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vramkit::cli {

struct BenchMode {
  std::string name;
  std::string offload;        // the --offload preset
  std::string storage_dtype;  // --storage-dtype; empty: the preset's
  // The share of the weights the budget leaves room for besides the ring: unset = no limit, 0 = vram_limit 0.
  std::optional<double> resident_fraction;
  bool cold_page_cache = false;
  bool native_fp8_gemm = false;  // --fp8-gemm
  std::optional<double> limit_gib = std::nullopt;  // an absolute vram_limit (the limit-G modes)
};

// Every mode, in the order above.
const std::vector<BenchMode>& bench_modes();
// A comma-separated list of mode names (empty: every mode of bench_modes()), in the order given; limit-G
// modes too. ArgumentError naming --modes, the unknown or repeated name and the known ones.
std::vector<BenchMode> parse_bench_modes(const std::string& list);

}  // namespace vramkit::cli
