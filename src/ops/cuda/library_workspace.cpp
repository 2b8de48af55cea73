#include "ops/cuda/library_workspace.h"

#include <utility>

namespace vramkit::cuda {

namespace {
constexpr std::size_t kBlockAlignment = 256;  // cudaMalloc's; cuBLASLt and cuDNN want at least 16
}

LibraryWorkspace::Block::Block(Block&& other) noexcept
    : arena_(std::exchange(other.arena_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

LibraryWorkspace::Block& LibraryWorkspace::Block::operator=(Block&& other) noexcept {
  if (this != &other) {
    Block old(std::move(*this));
    arena_ = std::exchange(other.arena_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

LibraryWorkspace::Block::~Block() {
  if (arena_ && data_) arena_->deallocate(data_, bytes_);
}

LibraryWorkspace::LibraryWorkspace(std::shared_ptr<Allocator> arena) : arena_(std::move(arena)) {}

LibraryWorkspace::Block LibraryWorkspace::take(int slot, std::size_t bytes) {
  if (bytes == 0) return {};
  if (arena_) return Block(arena_.get(), arena_->allocate(bytes, kBlockAlignment), bytes);
  const auto index = static_cast<std::size_t>(slot);
  if (kept_.size() <= index) kept_.resize(index + 1);
  if (kept_[index].bytes() < bytes) kept_[index] = DeviceBuffer(bytes);
  return Block(nullptr, kept_[index].data(), bytes);
}

}  // namespace vramkit::cuda
