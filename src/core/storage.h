// Storage: a contiguous block of bytes on one device, shared by every tensor view of it. Either owned (taken
// from an Allocator and returned to it when the last view dies) or external (memory owned by something else,
// such as an mmap'd file range, kept alive through `owner`).
#pragma once

#include <cstddef>
#include <memory>

#include "core/allocator.h"
#include "core/device.h"

namespace vramkit {

class Storage {
 public:
  static std::shared_ptr<Storage> allocate(std::shared_ptr<Allocator> allocator, std::size_t bytes,
                                           std::size_t alignment = kDefaultAlignment);
  static std::shared_ptr<Storage> external(void* data, std::size_t bytes, Device device,
                                           std::shared_ptr<const void> owner);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool owned() const { return allocator_ != nullptr; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<Allocator> allocator_;  // set when owned
  std::shared_ptr<const void> owner_;     // set when external
};

}  // namespace vramkit
