#include "vram/unit_layout.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "vramkit/error.h"

namespace vramkit {
namespace {

std::uint64_t align(std::uint64_t n) { return (n + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment; }

// Compares names with runs of digits as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      const std::string_view da = std::string_view(a).substr(i, i2 - i), db = std::string_view(b).substr(j, j2 - j);
      const auto ta = da.find_first_not_of('0'), tb = db.find_first_not_of('0');
      const std::string_view na = ta == std::string_view::npos ? "" : da.substr(ta);
      const std::string_view nb = tb == std::string_view::npos ? "" : db.substr(tb);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2, j = j2;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i, ++j;
  }
  return a.size() - i < b.size() - j;
}

bool computes_in_float(DType d) { return is_floating(d) && d != DType::f64; }
bool is_fp8(DType d) { return d == DType::f8_e4m3fn || d == DType::f8_e5m2; }

// The dtype a tensor takes in a state, and the tensor's packed place in a blob under construction.
DType stored_dtype(const StateConfig& state, const WeightTensor& t, DType compute, bool sensitive) {
  if (!computes_in_float(t.dtype())) return t.dtype();  // integer buffers and f64 move as they are
  const DType d = state.dtype.resolve(t.dtype());
  return is_fp8(d) && sensitive ? compute : d;
}

BlobTensor place(BlobLayout& blob, const WeightTensor& t, DType dtype, Fp8Scaling scaling) {
  BlobTensor b;
  b.dtype = dtype;
  const Shape& s = t.shape();
  b.rows = s.rank() == 0 ? 1 : static_cast<std::uint64_t>(s[0]);
  b.cols = b.rows == 0 ? 0 : static_cast<std::uint64_t>(s.numel()) / b.rows;
  b.offset = blob.bytes;
  b.bytes = static_cast<std::uint64_t>(s.numel()) * dtype_size(dtype);
  blob.bytes = align(b.offset + b.bytes);
  // Only a conversion into fp8 at load is scaled; fp8 read as it is from the file has no scales.
  b.scaled = is_fp8(dtype) && !is_fp8(t.dtype()) && scaling == Fp8Scaling::per_channel;
  if (b.scaled) {
    b.scale_offset = blob.bytes;
    blob.bytes = align(b.scale_offset + b.rows * sizeof(float));
  }
  blob.tensors.push_back(b);
  return b;
}

// The upcast targets for tensors whose stored dtype (in `from`) differs from their computation dtype.
BlobLayout compute_layout(const BlobLayout& from, const std::vector<DType>& compute_dtypes) {
  BlobLayout out;
  for (std::size_t i = 0; i < from.tensors.size(); ++i) {
    BlobTensor b;
    b.dtype = compute_dtypes[i];
    b.rows = from.tensors[i].rows;
    b.cols = from.tensors[i].cols;
    if (from.tensors[i].dtype != compute_dtypes[i]) {
      b.offset = out.bytes;
      b.bytes = b.rows * b.cols * dtype_size(b.dtype);
      out.bytes = align(b.offset + b.bytes);
    }
    out.tensors.push_back(b);
  }
  return out;
}

}  // namespace

bool is_default_gemm_weight(const WeightTensor& t, bool sensitive) {
  return !sensitive && t.shape().rank() == 2 && t.name().ends_with(".weight");
}

std::vector<UnitSpec> leaf_module_units(const WeightFiles& files) {
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& t : files.tensors()) {
    const auto dot = t.name().rfind('.');
    groups[dot == std::string::npos ? t.name() : t.name().substr(0, dot)].push_back(t.name());
  }
  std::vector<UnitSpec> units;
  for (auto& [name, tensors] : groups) units.push_back({name, std::move(tensors)});
  std::stable_sort(units.begin(), units.end(), [](const UnitSpec& a, const UnitSpec& b) { return natural_less(a.name, b.name); });
  return units;
}

UnitLayout make_unit_layout(const UnitSpec& spec, const WeightFiles& files, const LayoutPolicy& policy) {
  const auto& cfg = policy.config;
  UnitLayout u;
  u.name = spec.name;
  u.stream_from_disk = cfg.onload.device.kind == Placement::Kind::disk;
  u.may_be_resident = cfg.preparing.device.kind == Placement::Kind::accelerator;
  const DType compute = cfg.computation.dtype.dtype;
  for (const auto& name : spec.tensors) {
    const WeightTensor* t = files.find(name);
    if (!t) throw ArgumentError("unit " + spec.name + ": tensor " + name + " is not in " + files.describe());
    const bool sensitive = policy.sensitive ? policy.sensitive(*t) : t->shape().rank() < 2;
    u.sources.push_back(t);
    u.compute_dtypes.push_back(computes_in_float(t->dtype()) ? compute : t->dtype());
    // A disk stream carries the file's bytes as they are.
    const DType streamed = u.stream_from_disk ? t->dtype() : stored_dtype(cfg.onload, *t, compute, sensitive);
    const BlobTensor s =
        place(u.stream, *t, streamed, u.stream_from_disk ? Fp8Scaling::none : policy.scaling);
    const BlobTensor r =
        place(u.resident, *t, stored_dtype(cfg.preparing, *t, compute, sensitive), policy.scaling);
    // Kept fp8 only when both places hold the same codes and scales, so that a unit computes the same bits
    // whether it is streamed or resident (and no upcast target is needed from either).
    const bool gemm = policy.gemm_weight ? policy.gemm_weight(*t) : is_default_gemm_weight(*t, sensitive);
    if (policy.native_fp8_gemm && gemm && is_fp8(s.dtype) && s.dtype == r.dtype && s.scaled == r.scaled)
      u.compute_dtypes.back() = s.dtype;
  }
  if (u.stream_from_disk) {
    if (!policy.disk) throw ArgumentError("unit " + spec.name + ": onload from disk needs the disk tier's files");
    u.disk = policy.disk->plan(u.sources);
  }
  u.compute_from_stream = compute_layout(u.stream, u.compute_dtypes);
  u.compute_from_resident = compute_layout(u.resident, u.compute_dtypes);
  return u;
}

std::uint64_t UnitLayout::stream_copy_bytes() const {
  if (!stream_from_disk) return stream.bytes;
  std::uint64_t bytes = 0;
  for (const auto& t : stream.tensors) bytes += t.bytes;
  return bytes;
}

PlanUnit UnitLayout::plan_unit() const {
  PlanUnit p;
  p.name = name;
  p.resident_bytes = resident.bytes;
  p.stream_bytes = stream_copy_bytes();
  p.staging_bytes = staging_bytes();
  p.resident_staging_bytes = compute_from_resident.bytes;
  p.disk_bytes = disk.read_bytes;
  p.may_be_resident = may_be_resident;
  // The table shows the dtype of the unit's largest tensor.
  const auto main_dtype = [](const BlobLayout& b) {
    const auto it = std::max_element(b.tensors.begin(), b.tensors.end(),
                                     [](const BlobTensor& x, const BlobTensor& y) { return x.bytes < y.bytes; });
    return it == b.tensors.end() ? DType::bf16 : it->dtype;
  };
  p.resident_dtype = main_dtype(resident);
  p.stream_dtype = main_dtype(stream);
  return p;
}

PlanRequest make_plan_request(const std::vector<UnitLayout>& units, const ResolvedVramConfig& config,
                              std::optional<std::uint64_t> vram_limit, std::uint64_t workspace_bytes, int ring_slots,
                              std::uint64_t lookahead_bytes) {
  PlanRequest request;
  for (const auto& u : units) request.units.push_back(u.plan_unit());
  request.workspace_bytes = workspace_bytes;
  request.ring_slots = ring_slots;
  request.lookahead_bytes = lookahead_bytes;
  if (config.onload.device.kind != Placement::Kind::accelerator) request.vram_limit = vram_limit;
  return request;
}

}  // namespace vramkit
