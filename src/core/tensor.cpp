#include "core/tensor.h"

#include <cstring>
#include <vector>

#include "core/convert.h"
#include "core/tensor_iter.h"
#include "vramkit/error.h"

namespace vramkit {

Tensor Tensor::empty(const Shape& shape, DType dtype, const std::shared_ptr<Allocator>& allocator) {
  const auto bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return from_storage(Storage::allocate(allocator, bytes), 0, shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, const std::shared_ptr<Allocator>& allocator) {
  Tensor t = empty(shape, dtype, allocator);
  t.check_host("zeros");
  std::memset(t.data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, std::size_t byte_offset, const Shape& shape,
                            DType dtype) {
  if (!storage) throw ArgumentError("Tensor::from_storage: null storage");
  std::size_t bytes;
  if (__builtin_mul_overflow(static_cast<std::size_t>(shape.numel()), dtype_size(dtype), &bytes) ||
      byte_offset > storage->bytes() || bytes > storage->bytes() - byte_offset) {
    throw ShapeError("tensor " + std::string(dtype_name(dtype)) + shape.str() + " at byte offset " +
                     std::to_string(byte_offset) + " does not fit a storage of " + std::to_string(storage->bytes()) +
                     " bytes");
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.byte_offset_ = byte_offset;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::from_floats(const Shape& shape, std::span<const float> values) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw ShapeError("from_floats: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, DType::f32);
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

void* Tensor::data() const {
  if (!storage_) return nullptr;
  return static_cast<char*>(storage_->data()) + byte_offset_;
}

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;  // the stride of a size-1 dim never matters
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

int Tensor::normalize_dim(int dim, int rank_extra) const {
  const int r = rank() + rank_extra;
  const int d = dim < 0 ? dim + r : dim;
  if (d < 0 || d >= r)
    throw ShapeError("dimension " + std::to_string(dim) + " is out of range for tensor " + str());
  return d;
}

void Tensor::check_element_type(std::size_t size) const {
  if (size != element_size())
    throw DTypeError("element type of size " + std::to_string(size) + " does not match tensor " + str());
}

void Tensor::check_host(const char* what) const {
  if (!defined()) throw ArgumentError(std::string(what) + ": undefined tensor");
  if (!device().host_accessible())
    throw ArgumentError(
        std::string(what) + ": tensor " + str() +
        " is not in host-accessible memory; copy it with ops::to_host, or use the ops (ops::cast, "
        "ops::contiguous) on its device");
}

Tensor Tensor::slice(int dim, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const int d = normalize_dim(dim);
  const std::int64_t n = shape_[d];
  if (step <= 0) throw ShapeError("slice step must be positive, got " + std::to_string(step));
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0 || end > n || start > end) {
    throw ShapeError("slice [" + std::to_string(start) + ", " + std::to_string(end) + ") of dimension " +
                     std::to_string(d) + " is out of range for tensor " + str());
  }
  Tensor t = *this;
  t.shape_[d] = (end - start + step - 1) / step;
  t.strides_[d] = strides_[d] * step;
  if (t.shape_[d] > 0) t.byte_offset_ += static_cast<std::size_t>(start * strides_[d]) * element_size();
  return t;
}

Tensor Tensor::select(int dim, std::int64_t index) const {
  const int d = normalize_dim(dim);
  if (index < 0) index += shape_[d];
  if (index < 0 || index >= shape_[d])
    throw ShapeError("index " + std::to_string(index) + " out of range for dimension " + std::to_string(d) +
                     " of tensor " + str());
  Tensor t = *this;
  t.byte_offset_ += static_cast<std::size_t>(index * strides_[d]) * element_size();
  Shape shape, strides;
  for (int i = 0; i < rank(); ++i) {
    if (i == d) continue;
    shape.push_back(shape_[i]);
    strides.push_back(strides_[i]);
  }
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape.numel() != numel())
    throw ShapeError("cannot reshape tensor " + str() + " to " + shape.str() + ": element counts differ");
  Tensor t = *this;
  t.shape_ = shape;
  if (is_contiguous() || numel() == 0) {
    t.strides_ = contiguous_strides(shape);
    return t;
  }
  // Non-contiguous: a view exists when each group of old dims that merges or splits into a group of new dims
  // (equal element counts) is itself laid out contiguously. Size-1 dims take any stride, so drop the old ones.
  std::vector<std::int64_t> old_dims, old_strides;
  for (int i = 0; i < rank(); ++i) {
    if (shape_[i] == 1) continue;
    old_dims.push_back(shape_[i]);
    old_strides.push_back(strides_[i]);
  }
  Shape new_strides = shape;
  std::size_t oi = 0;
  for (int ni = 0; ni < shape.rank(); ++ni) {
    if (shape[ni] == 1) {
      new_strides[ni] = 1;
      continue;
    }
    const std::size_t old_begin = oi;
    const int new_begin = ni;
    std::int64_t old_count = old_dims[oi], new_count = shape[ni];
    while (old_count != new_count) {
      if (old_count < new_count) {
        old_count *= old_dims[++oi];
      } else {
        new_count *= shape[++ni];
      }
    }
    for (std::size_t k = old_begin; k < oi; ++k) {
      if (old_strides[k] != old_strides[k + 1] * old_dims[k + 1])
        throw ShapeError("cannot reshape non-contiguous tensor " + str() + " to " + shape.str() +
                         " without a copy; call contiguous() first");
    }
    std::int64_t stride = old_strides[oi];
    for (int k = ni; k >= new_begin; --k) {
      new_strides[k] = stride;
      stride *= shape[k];
    }
    ++oi;
  }
  t.strides_ = new_strides;
  return t;
}

Tensor Tensor::reshape_infer(std::span<const std::int64_t> dims) const {
  Shape shape;
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (infer >= 0) throw ShapeError("reshape of tensor " + str() + ": more than one -1 dimension");
      infer = static_cast<int>(i);
      shape.push_back(0);
    } else {
      shape.push_back(dims[i]);
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw ShapeError("reshape of tensor " + str() + ": cannot infer the -1 dimension");
    shape[infer] = numel() / known;
  }
  return reshape(shape);
}

Tensor Tensor::permute(std::span<const int> order) const {
  if (static_cast<int>(order.size()) != rank())
    throw ShapeError("permute of tensor " + str() + " needs " + std::to_string(rank()) + " dims, got " +
                     std::to_string(order.size()));
  Tensor t = *this;
  bool seen[kMaxRank] = {};
  for (int i = 0; i < rank(); ++i) {
    const int d = normalize_dim(order[static_cast<std::size_t>(i)]);
    if (seen[d]) throw ShapeError("permute of tensor " + str() + ": dimension " + std::to_string(d) + " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> order(static_cast<std::size_t>(rank()));
  for (int i = 0; i < rank(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::swap(order[static_cast<std::size_t>(normalize_dim(a))], order[static_cast<std::size_t>(normalize_dim(b))]);
  return permute(order);
}

Tensor Tensor::unsqueeze(int dim) const {
  const int d = normalize_dim(dim, 1);
  Shape shape, strides;
  for (int i = 0; i <= rank(); ++i) {
    if (i == d) {
      shape.push_back(1);
      strides.push_back(i < rank() ? strides_[i] * shape_[i] : 1);
    }
    if (i < rank()) {
      shape.push_back(shape_[i]);
      strides.push_back(strides_[i]);
    }
  }
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  const int lead = shape.rank() - rank();
  bool ok = lead >= 0;
  Shape strides;
  for (int d = 0; ok && d < shape.rank(); ++d) {
    if (d < lead) {
      strides.push_back(0);
    } else if (shape_[d - lead] == shape[d]) {
      strides.push_back(strides_[d - lead]);
    } else {
      ok = shape_[d - lead] == 1;
      strides.push_back(0);
    }
  }
  if (!ok) throw ShapeError("cannot expand tensor " + str() + " to shape " + shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

Tensor Tensor::squeeze(int dim) const {
  const int d = normalize_dim(dim);
  if (shape_[d] != 1)
    throw ShapeError("cannot squeeze dimension " + std::to_string(d) + " of tensor " + str() + ": size is not 1");
  return select(d, 0);
}

Tensor Tensor::view_as_dtype(DType dtype) const {
  if (dtype_size(dtype) != element_size())
    throw DTypeError("cannot view tensor " + str() + " as " + std::string(dtype_name(dtype)) +
                     ": element sizes differ");
  Tensor t = *this;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  check_host("clone");
  Tensor t = empty(shape_, dtype_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  check_host("to");
  Tensor t = empty(shape_, dtype);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  check_host("copy_from (destination)");
  src.check_host("copy_from (source)");
  if (!(src.shape() == shape_))
    throw ShapeError("copy_from: source " + src.str() + " and destination " + str() + " shapes differ");
  const auto* s = static_cast<const char*>(src.data());
  auto* d = static_cast<char*>(data());
  const auto in_size = static_cast<std::int64_t>(src.element_size());
  const auto out_size = static_cast<std::int64_t>(element_size());
  for_each_row(shape_, src.strides(), strides_,
               [&](std::int64_t a, std::int64_t b, std::int64_t len, std::int64_t a_step, std::int64_t b_step) {
                 convert_strided(s + a * in_size, src.dtype(), a_step, d + b * out_size, dtype_, b_step,
                                 static_cast<std::size_t>(len));
               });
}

double Tensor::item_as_double(std::span<const std::int64_t> index) const {
  check_host("item_as_double");
  if (static_cast<int>(index.size()) != rank())
    throw ShapeError("item_as_double: " + std::to_string(index.size()) + " indices for tensor " + str());
  std::int64_t off = 0;
  for (int i = 0; i < rank(); ++i) {
    const auto k = index[static_cast<std::size_t>(i)];
    if (k < 0 || k >= shape_[i]) throw ShapeError("item_as_double: index out of range for tensor " + str());
    off += k * strides_[i];
  }
  double v;
  convert(static_cast<const char*>(data()) + off * static_cast<std::int64_t>(element_size()), dtype_, &v,
          DType::f64, 1);
  return v;
}

std::vector<float> Tensor::to_floats() const {
  std::vector<float> out(static_cast<std::size_t>(numel()));
  if (out.empty()) return out;
  Tensor dst = from_storage(Storage::external(out.data(), out.size() * sizeof(float), Device::cpu(), nullptr), 0,
                            shape_, DType::f32);
  dst.copy_from(*this);
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "<undefined tensor>";
  return std::string(dtype_name(dtype_)) + shape_.str() + " " + device().str();
}

}  // namespace vramkit
