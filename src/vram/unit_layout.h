// Managed units and their byte layouts.
//
// A unit is a group of checkpoint tensors that moves and becomes resident together (by default one leaf
// module: a Linear's weight and bias, a norm's weight). For each unit the layout fixes, once, how its tensors
// are packed in each place they can be:
//   stream     how the unit crosses the bus: the pinned host copy (onload on cpu) or the disk staging buffer
//              (onload on disk), mirrored byte for byte by the transfer region of its bytes in the staging
//              ring
//   resident   how it sits in VRAM when the planner keeps it (preparing dtype)
//   compute    the computation-dtype copies of the tensors whose stored dtype differs (the upcast targets),
//              one layout per source (from stream, from resident)
// With LayoutPolicy::native_fp8_gemm, a GEMM weight stored in the same fp8 dtype (and with the same scaling)
// in its stream and resident layouts has that fp8 dtype as its computation dtype: it has no upcast target and
// is handed out in place, with its scales.
// Every tensor starts at a multiple of kBlobAlignment; per-channel fp8 scales (f32, one per row) follow their
// tensor's data. A unit streamed from disk also has a read plan (vram/disk_reads.h): its tensors arrive in
// the pinned buffer at the offsets the aligned reads give them, and are copied from there into the stream
// layout of the ring, one copy per tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/model_files.h"
#include "vram/disk_reads.h"
#include "vram/fp8_scaling.h"
#include "vram/planner.h"
#include "vram/vram_config.h"

namespace vramkit {

inline constexpr std::uint64_t kBlobAlignment = 256;

struct UnitSpec {
  std::string name;
  std::vector<std::string> tensors;  // checkpoint keys
};

// One unit per leaf module: tensors grouped by their name without the last '.'-separated part, units ordered
// by name with digit runs compared as numbers (blocks.2 before blocks.10), which is the execution order of
// the usual checkpoints when a model declares none.
std::vector<UnitSpec> leaf_module_units(const WeightFiles& files);

struct BlobTensor {
  DType dtype = DType::bf16;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  bool scaled = false;             // per-row f32 scales follow at scale_offset
  std::uint64_t scale_offset = 0;
  std::uint64_t rows = 1, cols = 0;  // rows = shape[0] (1 for scalars), cols = the rest
};

struct BlobLayout {
  std::vector<BlobTensor> tensors;  // parallel to UnitLayout::sources
  std::uint64_t bytes = 0;
};

struct LayoutPolicy {
  ResolvedVramConfig config;
  Fp8Scaling scaling = Fp8Scaling::per_channel;
  // Tensors kept in the computation dtype instead of fp8 (default: rank < 2, i.e. biases and norm weights).
  std::function<bool(const WeightTensor&)> sensitive;
  // The disk tier's files, which fix the read plans; required when the onload device is disk.
  const DiskSource* disk = nullptr;
  bool native_fp8_gemm = false;  // ManagerOptions::native_fp8_gemm
  // The tensors native_fp8_gemm may keep in fp8 (default: is_default_gemm_weight).
  std::function<bool(const WeightTensor&)> gemm_weight;
};

// The default GEMM-weight predicate: a rank-2 tensor whose name ends in ".weight" and that is not sensitive
// (a Linear's weight in the usual checkpoints; embedding tables match too, so a model that reads one through
// a lease passes its own predicate).
bool is_default_gemm_weight(const WeightTensor& t, bool sensitive);

struct UnitLayout {
  std::string name;
  std::vector<const WeightTensor*> sources;
  std::vector<DType>
      compute_dtypes;  // what acquire() hands out, per tensor (fp8 for a native fp8 GEMM weight)
  BlobLayout stream, resident;
  // Upcast targets; an entry with bytes == 0 means the tensor is used in place (no conversion from that source).
  BlobLayout compute_from_stream, compute_from_resident;
  bool stream_from_disk = false;
  DiskReadPlan disk;  // how the unit is read from disk (stream_from_disk only)
  bool may_be_resident = true;

  std::uint64_t staging_bytes() const { return stream.bytes + compute_from_stream.bytes; }
  // The bytes one streamed use copies host -> device: the stream layout whole from a host copy, the tensors
  // alone (not the layout's padding) from a disk buffer.
  std::uint64_t stream_copy_bytes() const;
  PlanUnit plan_unit() const;
};

// Throws ArgumentError naming the unit and tensor when a tensor is missing from `files`, or when the onload
// device is disk and the policy has no DiskSource.
UnitLayout make_unit_layout(const UnitSpec& spec, const WeightFiles& files, const LayoutPolicy& policy);

// The planner's input for a model's units under `config`: a model whose onload state is the accelerator is on
// the device whole while its stage runs (DiffSynth's component-level offload), so its limit is dropped.
PlanRequest make_plan_request(const std::vector<UnitLayout>& units, const ResolvedVramConfig& config,
                              std::optional<std::uint64_t> vram_limit, std::uint64_t workspace_bytes, int ring_slots,
                              std::uint64_t lookahead_bytes);

}  // namespace vramkit
