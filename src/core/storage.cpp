#include "core/storage.h"

#include "vramkit/error.h"

namespace vramkit {

std::shared_ptr<Storage> Storage::allocate(std::shared_ptr<Allocator> allocator, std::size_t bytes,
                                           std::size_t alignment) {
  if (!allocator) throw ArgumentError("Storage::allocate: no allocator");
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = allocator->allocate(bytes, alignment);
  s->bytes_ = bytes;
  s->device_ = allocator->device();
  s->allocator_ = std::move(allocator);
  return s;
}

std::shared_ptr<Storage> Storage::external(void* data, std::size_t bytes, Device device,
                                           std::shared_ptr<const void> owner) {
  if (data == nullptr && bytes != 0) throw ArgumentError("Storage::external: null data for a non-empty range");
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->bytes_ = bytes;
  s->device_ = device;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (allocator_) allocator_->deallocate(data_, bytes_);
}

}  // namespace vramkit
