// SafetensorsFile: an open, memory-mapped, validated safetensors file.
//
// The whole file is mapped PROT_READ / MAP_PRIVATE once; the header is parsed from the mapping and views
// point into it (each view's Storage holds a shared_ptr to the file, so the mapping outlives every view). The
// mapping assumes the file is not truncated while open: shrinking a mapped file makes reads of the lost pages
// fault (SIGBUS), as with any mmap reader. read() goes through pread instead, for the disk tier, which wants
// the bytes in its own (pinned, later O_DIRECT-aligned) buffers without touching the page-cache mapping.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/safetensors.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

std::string os_error(const std::filesystem::path& path, const std::string& what, int err) {
  return path.string() + ": " + what + ": " + std::strerror(err);
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->self_ = file;
  file->path_ = path;
  file->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd_ < 0) throw IoError(os_error(path, "cannot open", errno));
  struct stat st {};
  if (::fstat(file->fd_, &st) != 0) throw IoError(os_error(path, "cannot stat", errno));
  if (!S_ISREG(st.st_mode)) throw IoError(path.string() + ": not a regular file");
  file->file_size_ = static_cast<std::uint64_t>(st.st_size);
  if (file->file_size_ > 0) {
    void* map = ::mmap(nullptr, file->file_size_, PROT_READ, MAP_PRIVATE, file->fd_, 0);
    if (map == MAP_FAILED)
      throw IoError(os_error(path, "cannot map " + std::to_string(file->file_size_) + " bytes", errno));
    file->map_ = map;
  }
  const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(file->map_), file->file_size_);
  file->header_ = parse_safetensors_header(bytes, file->file_size_, path.string());
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, file_size_);
  if (fd_ >= 0) ::close(fd_);
}

const SafetensorsEntry& SafetensorsFile::entry(std::string_view name) const {
  const SafetensorsEntry* e = header_.find(name);
  if (e == nullptr)
    throw ArgumentError(path_.string() + ": no tensor named '" + std::string(name) + "' (the file holds " +
                        std::to_string(header_.entries.size()) + " tensors)");
  return *e;
}

Tensor SafetensorsFile::view(std::string_view name) const {
  const SafetensorsEntry& e = entry(name);
  auto* first = static_cast<std::uint8_t*>(map_) + file_offset(e);
  // The format does not align tensors; a view at an address not aligned to its element size would make every
  // typed access undefined behaviour, so such a tensor is read into an aligned buffer instead.
  if (reinterpret_cast<std::uintptr_t>(first) % dtype_size(e.dtype) != 0) {
    Tensor copy = Tensor::empty(e.shape, e.dtype);
    read(e, 0, e.bytes(), copy.data());
    return copy;
  }
  // The mapping is read-only (PROT_READ): Storage takes a non-const pointer, but a write through it faults.
  auto storage =
      Storage::external(first, e.bytes(), Device::cpu(), std::shared_ptr<const void>(self_.lock()));
  return Tensor::from_storage(std::move(storage), 0, e.shape, e.dtype);
}

void SafetensorsFile::read(const SafetensorsEntry& entry, std::uint64_t offset, std::uint64_t length,
                           void* dst) const {
  const std::uint64_t data_size = file_size_ - header_.data_offset;
  if (entry.begin > entry.end || entry.end > data_size)
    throw ArgumentError(path_.string() + ": tensor '" + entry.name + "' does not belong to this file");
  if (offset > entry.bytes() || length > entry.bytes() - offset)
    throw ArgumentError(path_.string() + ": tensor '" + entry.name + "': read of " + std::to_string(length) +
                        " bytes at offset " + std::to_string(offset) + " outside its " +
                        std::to_string(entry.bytes()) + " bytes");
  auto* out = static_cast<std::uint8_t*>(dst);
  std::uint64_t position = file_offset(entry) + offset;
  while (length > 0) {
    const ssize_t got = ::pread(fd_, out, static_cast<std::size_t>(length), static_cast<off_t>(position));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(
          os_error(path_, "pread of tensor '" + entry.name + "' at byte " + std::to_string(position), errno));
    }
    if (got == 0)
      throw IoError(path_.string() + ": tensor '" + entry.name + "': unexpected end of file at byte " +
                    std::to_string(position) + " (was the file truncated?)");
    out += got;
    position += static_cast<std::uint64_t>(got);
    length -= static_cast<std::uint64_t>(got);
  }
}

}  // namespace vramkit
