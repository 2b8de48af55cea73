#include "backends/emu/emu_accelerator.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "backends/arena_allocator.h"
#include "backends/emu/emu_stream.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::size_t kCommitStep = std::size_t{2} << 20;

// Pinned memory of the emulated device: host memory, accounted apart from the process-wide host allocator.
class EmuPinnedAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }

 protected:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return host_allocator()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes) noexcept override { host_allocator()->deallocate(p, bytes); }
};

}  // namespace

EmuAccelerator::EmuAccelerator(const EmuOptions& options, int index) : options_(options), index_(index) {
  if (options.copy_gbps < 0 || options.copy_latency_us < 0)
    throw ArgumentError("emulated device: copy bandwidth and latency must not be negative");
  // Reserve address space only: pages are committed when first touched, so a large emulated VRAM costs host
  // memory only for what is used.
  const std::size_t bytes = options.vram_bytes / ArenaAllocator::kGranularity * ArenaAllocator::kGranularity;
  void* base = nullptr;
  if (bytes > 0) {
    base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
      throw OutOfMemory(Device::emu(index).str(), bytes, std::string("reserving emulated VRAM: ") + std::strerror(errno));
  }
  // Backed on demand in 2 MiB steps, as the CUDA arena's physical memory is (the host pages themselves are
  // committed by the kernel on first touch), so that memory_info().committed_bytes means the same on both.
  device_allocator_ = std::make_shared<ArenaAllocator>(
      Device::emu(index), base, bytes, [bytes](void* p) { munmap(p, bytes); },
      [](std::size_t end) { return (end + kCommitStep - 1) / kCommitStep * kCommitStep; });
  pinned_allocator_ = std::make_shared<EmuPinnedAllocator>();
  compute_ = std::make_unique<EmuInlineStream>();
}

EmuAccelerator::~EmuAccelerator() = default;

std::unique_ptr<Stream> EmuAccelerator::create_stream(const std::string& name) {
  return std::make_unique<EmuThreadStream>(name, options_.copy_gbps, options_.copy_latency_us);
}

std::unique_ptr<Event> EmuAccelerator::create_event() { return std::make_unique<EmuEvent>(); }

MemoryInfo EmuAccelerator::memory_info() {
  return static_cast<ArenaAllocator&>(*device_allocator_).memory_info();
}

}  // namespace vramkit
