// write_safetensors: the header lists "__metadata__" first (when there is any), then the tensors in the given
// order; the header is padded with spaces to a multiple of 8 so that the data section starts 8-byte aligned;
// the tensors follow contiguously in the same order (no padding between them, which the reference reader
// would reject as a gap), each in row-major order whatever its strides. The file is written under a temporary
// name beside the target and renamed over it at the end, so a failed write never leaves a half file at
// `path`.
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

std::string header_text(const std::filesystem::path& path,
                        const std::vector<std::pair<std::string, Tensor>>& tensors,
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
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw ArgumentError(path.string() + ": '__metadata__' cannot name a tensor");
    if (!names.insert(name).second)
      throw ArgumentError(path.string() + ": tensor '" + name + "' given twice");
    check_utf8(path, name, "a tensor name");
    if (!tensor.defined()) throw ArgumentError(path.string() + ": tensor '" + name + "' is undefined");
    if (!tensor.device().host_accessible())
      throw ArgumentError(path.string() + ": tensor '" + name + "' " + tensor.str() +
                          " is not host-accessible");
    const std::uint64_t bytes = tensor.nbytes();
    header[name] = {
        {"dtype", dtype_safetensors_name(tensor.dtype())},
        {"shape", std::vector<std::int64_t>(tensor.shape().dims().begin(), tensor.shape().dims().end())},
        {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
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

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string header = header_text(path, tensors, metadata);
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));

  TempFile out(path.string() + ".tmp-" + std::to_string(::getpid()));
  write_all(out.fd(), length, sizeof length, out.path());
  write_all(out.fd(), header.data(), header.size(), out.path());
  for (const auto& [name, tensor] : tensors) {
    const Tensor dense = tensor.contiguous();
    write_all(out.fd(), dense.data(), dense.nbytes(), out.path());
  }
  out.commit(path);
}

}  // namespace vramkit
