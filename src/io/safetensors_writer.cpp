// write_safetensors: the header lists "__metadata__" first (when there is any), then the tensors in the given
// order; the header is padded with spaces to a multiple of 8 so that the data section starts 8-byte aligned;
// the tensors follow contiguously in the same order (no padding between them, which the reference reader
// would reject as a gap), each in row-major order whatever its strides. The file is written under a temporary
// name beside the target and renamed over it at the end, so a failed write never leaves a half file at
// `path`. SafetensorsStreamWriter writes the same header from declared shapes before any data exists, so a
// file far larger than memory can be produced piece by piece; write_safetensors is built on it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "io/safetensors.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using ordered_json = nlohmann::ordered_json;

// nlohmann refuses to serialize invalid UTF-8; turn that into an error naming the string's role.
void check_utf8(const std::filesystem::path& path, const std::string& s, const std::string& role) {
  try {
    (void)ordered_json(s).dump();
  } catch (const nlohmann::json::type_error&) {
    throw ArgumentError(path.string() + ": " + role + " is not valid UTF-8");
  }
}

// Byte size of a declared tensor: numel x element size, with the product checked for overflow.
std::uint64_t declared_bytes(const std::filesystem::path& path, const SafetensorsTensorInfo& t) {
  const auto numel = static_cast<std::uint64_t>(t.shape.numel());  // ShapeError on overflow or negative
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, dtype_size(t.dtype), &bytes))
    throw ShapeError(path.string() + ": tensor '" + t.name + "' " + t.shape.str() + " is too large");
  return bytes;
}

std::string header_text(const std::filesystem::path& path, const std::vector<SafetensorsTensorInfo>& tensors,
                        const std::vector<std::uint64_t>& sizes,
                        const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [key, value] : metadata) {
      check_utf8(path, key, "metadata key");
      check_utf8(path, value, "metadata value of key '" + key + "'");
      meta[key] = value;
    }
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string_view> names;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const SafetensorsTensorInfo& t = tensors[i];
    if (t.name == "__metadata__")
      throw ArgumentError(path.string() + ": '__metadata__' cannot name a tensor");
    if (!names.insert(t.name).second)
      throw ArgumentError(path.string() + ": tensor '" + t.name + "' given twice");
    check_utf8(path, t.name, "a tensor name");
    if (__builtin_add_overflow(offset, sizes[i], &offset))
      throw ShapeError(path.string() + ": the tensors up to '" + t.name + "' exceed 2^64 bytes");
    header[t.name] = {{"dtype", dtype_safetensors_name(t.dtype)},
                      {"shape", std::vector<std::int64_t>(t.shape.dims().begin(), t.shape.dims().end())},
                      {"data_offsets", {offset - sizes[i], offset}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_all(int fd, const void* data, std::size_t size, const std::string& tmp_path) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(tmp_path + ": write failed: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Closes and (unless released) removes the temporary file when the write does not complete.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(path_ + ": cannot create: " + std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  void commit(const std::filesystem::path& target) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw IoError(path_ + ": close failed: " + std::strerror(errno));
    if (::rename(path_.c_str(), target.c_str()) != 0)
      throw IoError(target.string() + ": cannot rename " + path_ + " over it: " + std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

class SafetensorsStreamWriter::Impl {
 public:
  Impl(std::filesystem::path target)
      : target(std::move(target)), file(this->target.string() + ".tmp-" + std::to_string(::getpid())) {}
  std::filesystem::path target;
  TempFile file;
};

SafetensorsStreamWriter::SafetensorsStreamWriter(std::filesystem::path path,
                                                 std::vector<SafetensorsTensorInfo> tensors,
                                                 const std::map<std::string, std::string>& metadata)
    : tensors_(std::move(tensors)) {
  for (const auto& t : tensors_) sizes_.push_back(declared_bytes(path, t));
  const std::string header = header_text(path, tensors_, sizes_, metadata);
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
  impl_ = std::make_unique<Impl>(std::move(path));
  write_all(impl_->file.fd(), length, sizeof length, impl_->file.path());
  write_all(impl_->file.fd(), header.data(), header.size(), impl_->file.path());
  // Skip the zero-byte tensors at the front so that current() names the first one that needs data.
  remaining_ = sizes_.empty() ? 0 : sizes_[0];
  while (current_ < tensors_.size() && remaining_ == 0) {
    ++current_;
    remaining_ = current_ < tensors_.size() ? sizes_[current_] : 0;
  }
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() = default;

const SafetensorsTensorInfo* SafetensorsStreamWriter::current() const {
  return current_ < tensors_.size() ? &tensors_[current_] : nullptr;
}

void SafetensorsStreamWriter::write(const void* data, std::size_t bytes) {
  const std::string& file = impl_->target.string();
  if (finished_) throw ArgumentError(file + ": write after finish()");
  if (bytes == 0) return;
  if (current_ >= tensors_.size())
    throw ArgumentError(file + ": " + std::to_string(bytes) + " bytes written after the last tensor");
  if (bytes > remaining_)
    throw ArgumentError(file + ": a write of " + std::to_string(bytes) +
                        " bytes crosses the end of tensor '" + tensors_[current_].name + "' (" +
                        std::to_string(remaining_) + " bytes left)");
  write_all(impl_->file.fd(), data, bytes, impl_->file.path());
  remaining_ -= bytes;
  while (current_ < tensors_.size() && remaining_ == 0) {
    ++current_;
    remaining_ = current_ < tensors_.size() ? sizes_[current_] : 0;
  }
}

void SafetensorsStreamWriter::finish() {
  if (finished_) throw ArgumentError(impl_->target.string() + ": finish() called twice");
  if (const SafetensorsTensorInfo* missing = current())
    throw ArgumentError(impl_->target.string() + ": tensor '" + missing->name + "' is missing " +
                        std::to_string(remaining_) + " of its " + std::to_string(sizes_[current_]) +
                        " bytes");
  impl_->file.commit(impl_->target);
  finished_ = true;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsTensorInfo> infos;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw ArgumentError(path.string() + ": tensor '" + name + "' is undefined");
    if (!tensor.device().host_accessible())
      throw ArgumentError(path.string() + ": tensor '" + name + "' " + tensor.str() +
                          " is not host-accessible");
    infos.push_back({name, tensor.dtype(), tensor.shape()});
  }
  SafetensorsStreamWriter out(path, std::move(infos), metadata);
  for (const auto& [name, tensor] : tensors) {
    const Tensor dense = tensor.contiguous();
    out.write(dense.data(), dense.nbytes());
  }
  out.finish();
}

}  // namespace vramkit
