#include "backends/cuda/cuda_virtual_memory.h"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "vramkit/error.h"

namespace vramkit::cuda {
namespace {

// The driver's virtual memory functions, as the runtime hands them out (the 12.0 ABI of each symbol).
struct DriverVmm {
  PFN_cuMemAddressReserve_v10020 address_reserve = nullptr;
  PFN_cuMemAddressFree_v10020 address_free = nullptr;
  PFN_cuMemCreate_v10020 create = nullptr;
  PFN_cuMemRelease_v10020 release = nullptr;
  PFN_cuMemMap_v10020 map = nullptr;
  PFN_cuMemUnmap_v10020 unmap = nullptr;
  PFN_cuMemSetAccess_v10020 set_access = nullptr;
  PFN_cuMemGetAllocationGranularity_v10020 granularity = nullptr;
  PFN_cuGetErrorString_v6000 error_string = nullptr;
};

template <class F>
void look_up(const char* symbol, F& fn) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  VRAMKIT_CUDA_CHECK(cudaGetDriverEntryPointByVersion(symbol, &p, 12000, cudaEnableDefault, &found));
  if (found != cudaDriverEntryPointSuccess || p == nullptr)
    throw CudaError(0, std::string("the CUDA driver has no ") + symbol + " (virtual memory management)",
                    __FILE__, __LINE__);
  fn = reinterpret_cast<F>(p);
}

const DriverVmm& driver_vmm() {
  static const DriverVmm vmm = [] {
    DriverVmm d;
    look_up("cuMemAddressReserve", d.address_reserve);
    look_up("cuMemAddressFree", d.address_free);
    look_up("cuMemCreate", d.create);
    look_up("cuMemRelease", d.release);
    look_up("cuMemMap", d.map);
    look_up("cuMemUnmap", d.unmap);
    look_up("cuMemSetAccess", d.set_access);
    look_up("cuMemGetAllocationGranularity", d.granularity);
    look_up("cuGetErrorString", d.error_string);
    return d;
  }();
  return vmm;
}

[[noreturn]] void throw_driver_error(CUresult status, const std::string& call) {
  const char* message = nullptr;
  if (driver_vmm().error_string(status, &message) != CUDA_SUCCESS || message == nullptr)
    message = "unknown error";
  throw CudaError(static_cast<int>(status), std::string(message) + " in " + call, __FILE__, __LINE__);
}

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

struct VirtualDeviceRange::Impl {
  // One physical piece mapped at [offset, offset + bytes) of the range.
  struct Piece {
    std::size_t offset = 0, bytes = 0;
    CUmemGenericAllocationHandle handle = 0;
  };

  int device = 0;
  CUmemAllocationProp prop{};
  std::size_t granularity = 0;
  CUdeviceptr base = 0;
  std::size_t size = 0;
  std::size_t committed = 0;
  std::vector<Piece> pieces;
};

VirtualDeviceRange::VirtualDeviceRange(int device, std::size_t bytes) : impl_(std::make_unique<Impl>()) {
  const DriverVmm& vmm = driver_vmm();
  DeviceGuard guard(device);
  VRAMKIT_CUDA_CHECK(cudaFree(nullptr));  // the runtime's primary context exists before the driver is called
  Impl& m = *impl_;
  m.device = device;
  m.prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  m.prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  m.prop.location.id = device;
  if (const CUresult s = vmm.granularity(&m.granularity, &m.prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
      s != CUDA_SUCCESS)
    throw_driver_error(s, "cuMemGetAllocationGranularity");
  m.size = round_up(std::max<std::size_t>(bytes, 1), m.granularity);
  if (const CUresult s = vmm.address_reserve(&m.base, m.size, m.granularity, 0, 0); s != CUDA_SUCCESS)
    throw_driver_error(s, "cuMemAddressReserve of " + std::to_string(m.size) + " bytes");
}

VirtualDeviceRange::~VirtualDeviceRange() {
  // Unchecked on purpose: this runs in a destructor.
  const DriverVmm& vmm = driver_vmm();
  Impl& m = *impl_;
  for (const Impl::Piece& p : m.pieces) {
    vmm.unmap(m.base + p.offset, p.bytes);
    vmm.release(p.handle);
  }
  vmm.address_free(m.base, m.size);
}

void* VirtualDeviceRange::base() const {
  return reinterpret_cast<void*>(impl_->base);
}
std::size_t VirtualDeviceRange::size() const {
  return impl_->size;
}
std::size_t VirtualDeviceRange::committed() const {
  return impl_->committed;
}

std::size_t VirtualDeviceRange::commit(std::size_t end) {
  Impl& m = *impl_;
  if (end <= m.committed) return m.committed;
  const DriverVmm& vmm = driver_vmm();
  DeviceGuard guard(m.device);
  const std::size_t step = round_up(kGrowthStep, m.granularity);
  const std::size_t bytes = std::min(round_up(end - m.committed, step), m.size - m.committed);
  Impl::Piece piece{m.committed, bytes, 0};
  const CUresult created = vmm.create(&piece.handle, bytes, &m.prop, 0);
  if (created == CUDA_ERROR_OUT_OF_MEMORY) return m.committed;  // the arena reports OutOfMemory
  if (created != CUDA_SUCCESS)
    throw_driver_error(created, "cuMemCreate of " + std::to_string(bytes) + " bytes");
  const CUdeviceptr at = m.base + piece.offset;
  if (const CUresult s = vmm.map(at, bytes, 0, piece.handle, 0); s != CUDA_SUCCESS) {
    vmm.release(piece.handle);
    throw_driver_error(s, "cuMemMap");
  }
  CUmemAccessDesc access{};
  access.location = m.prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  if (const CUresult s = vmm.set_access(at, bytes, &access, 1); s != CUDA_SUCCESS) {
    vmm.unmap(at, bytes);
    vmm.release(piece.handle);
    throw_driver_error(s, "cuMemSetAccess");
  }
  m.pieces.push_back(piece);
  m.committed += bytes;
  return m.committed;
}

}  // namespace vramkit::cuda
