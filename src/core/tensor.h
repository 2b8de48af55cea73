// Tensor: shared storage + byte offset + shape + strides (in elements) + dtype. Views (slice, select, reshape,
// permute, transpose, squeeze, unsqueeze) share the storage and never copy; contiguous(), clone() and to()
// copy. No autograd. Copies and conversions here run on host-accessible devices (cpu, emu); other devices go
// through their backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace vramkit {

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Uninitialized contiguous tensor from an allocator (default: the host allocator).
  static Tensor empty(const Shape& shape, DType dtype,
                      const std::shared_ptr<Allocator>& allocator = host_allocator());
  static Tensor zeros(const Shape& shape, DType dtype,
                      const std::shared_ptr<Allocator>& allocator = host_allocator());
  // A contiguous view of `storage` from `byte_offset`; throws ShapeError if it does not fit the storage.
  static Tensor from_storage(std::shared_ptr<Storage> storage, std::size_t byte_offset, const Shape& shape,
                             DType dtype);
  // A contiguous host f32 tensor holding `values` (a copy); for tests and small constants.
  static Tensor from_floats(const Shape& shape, std::span<const float> values);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const;
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return shape_.rank(); }
  std::int64_t size(int dim) const { return shape_[normalize_dim(dim)]; }
  std::int64_t stride(int dim) const { return strides_[normalize_dim(dim)]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t element_size() const { return dtype_size(dtype_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::size_t byte_offset() const { return byte_offset_; }

  // Address of the first element (null for an undefined tensor).
  void* data() const;
  template <typename T>
  T* data_as() const {
    check_element_type(sizeof(T));
    return static_cast<T*>(data());
  }

  // Views. Negative dims count from the end. Each throws ShapeError naming the tensor's shape on bad input.
  Tensor slice(int dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(int dim, std::int64_t index) const;          // removes `dim`
  Tensor reshape(const Shape& shape) const;  // a view; ShapeError if the strides do not allow one
  Tensor reshape_infer(std::span<const std::int64_t> dims) const;  // dims may hold one -1
  Tensor permute(std::span<const int> order) const;
  Tensor permute(std::initializer_list<int> order) const {
    return permute(std::span<const int>(order.begin(), order.size()));
  }
  Tensor transpose(int a, int b) const;
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  // torch.expand: a view of `shape` (rank >= this rank; aligned from the right) in which size-1 dimensions
  // and new leading ones repeat with stride 0. Writing through such a view is undefined, so it is for
  // reading.
  Tensor expand(const Shape& shape) const;
  Tensor view_as_dtype(DType dtype) const;  // same bytes, another dtype of the same size

  // Copies (host-accessible devices only).
  Tensor contiguous() const;  // returns *this when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;  // converted contiguous copy (round-to-nearest-even, saturating fp8)
  void copy_from(const Tensor& src);  // same shape; any strides; converts dtype

  // Element access for tests and tools, through f64 (exact for every dtype but large i64).
  double item_as_double(std::span<const std::int64_t> index) const;
  std::vector<float> to_floats() const;  // all elements in row-major order as f32

  std::string str() const;  // "bf16[2, 3] cpu"

 private:
  int normalize_dim(int dim, int rank_extra = 0) const;
  void check_element_type(std::size_t size) const;
  void check_host(const char* what) const;

  std::shared_ptr<Storage> storage_;
  std::size_t byte_offset_ = 0;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::f32;
};

}  // namespace vramkit
