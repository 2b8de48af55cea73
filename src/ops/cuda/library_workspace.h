// The device memory cuBLASLt and cuDNN need during one launch: their workspaces and cuDNN's key padding bias.
//
// Given the accelerator's arena, each block is allocated from it for one launch and freed as soon as the
// launch is enqueued, so it counts in the VRAM budget like the scratch of any op (cuda_device_ops.h): a freed
// block is only handed to later allocations, whose work is enqueued on the same compute stream after this
// launch. The workspace estimates price it (ops::kLibraryWorkspaceBytes, models/activation_meter.h).
//
// Without an arena (the launchers used on their own: op tests, op benchmarks), each slot is a cudaMalloc
// buffer kept and grown on demand; growing frees the old buffer, and cudaFree waits for the device, so work
// still queued on it is safe.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "backends/cuda/cuda_device.h"
#include "core/allocator.h"

namespace vramkit::cuda {

class LibraryWorkspace {
 public:
  // One block, valid until destroyed (arena blocks go back to the arena then).
  class Block {
   public:
    Block() = default;
    Block(Block&& other) noexcept;
    Block& operator=(Block&& other) noexcept;
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    ~Block();
    void* data() const { return data_; }  // null for zero bytes

   private:
    friend class LibraryWorkspace;
    Block(Allocator* arena, void* data, std::size_t bytes) : arena_(arena), data_(data), bytes_(bytes) {}
    Allocator* arena_ = nullptr;  // null: a kept buffer, not freed here
    void* data_ = nullptr;
    std::size_t bytes_ = 0;
  };

  // `arena` null: kept cudaMalloc buffers, one per slot.
  explicit LibraryWorkspace(std::shared_ptr<Allocator> arena);

  // At least `bytes` of device memory, 256-byte aligned; `slot` (0, 1, ...) tells apart the blocks one launch
  // holds at once. Throws OutOfMemory when the arena's cap refuses (the estimate missed it) or cudaMalloc
  // fails.
  Block take(int slot, std::size_t bytes);

 private:
  std::shared_ptr<Allocator> arena_;
  std::vector<DeviceBuffer> kept_;
};

}  // namespace vramkit::cuda
