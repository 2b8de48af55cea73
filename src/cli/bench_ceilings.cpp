#include "cli/bench_ceilings.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "vramkit/error.h"

namespace vramkit::cli {
namespace {

using Clock = std::chrono::steady_clock;

class FileDescriptor {
 public:
  explicit FileDescriptor(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw IoError(path.string() + ": cannot open: " + std::strerror(errno));
  }
  ~FileDescriptor() { ::close(fd_); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::uint64_t file_size(int fd, const std::filesystem::path& path) {
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) throw IoError(path.string() + ": cannot seek: " + std::strerror(errno));
  return static_cast<std::uint64_t>(end);
}

// Bytes of the file's pages that are in the page cache: mincore over a mapping that is never touched (so the
// check itself caches nothing).
std::uint64_t cached_bytes(int fd, std::uint64_t size) {
  if (size == 0) return 0;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 0;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  std::uint64_t cached = 0;
  if (::mincore(map, size, resident.data()) == 0)
    for (std::size_t i = 0; i < resident.size(); ++i)
      if (resident[i] & 1) cached += std::min<std::uint64_t>(page, size - i * page);
  ::munmap(map, size);
  return cached;
}

// Memory from an Allocator, returned at destruction.
class AllocatorBuffer {
 public:
  AllocatorBuffer(Allocator& allocator, std::size_t bytes)
      : allocator_(allocator), bytes_(bytes), data_(allocator.allocate(bytes)) {}
  ~AllocatorBuffer() { allocator_.deallocate(data_, bytes_); }
  AllocatorBuffer(const AllocatorBuffer&) = delete;
  AllocatorBuffer& operator=(const AllocatorBuffer&) = delete;
  void* get() const { return data_; }

 private:
  Allocator& allocator_;
  std::size_t bytes_;
  void* data_;
};

}  // namespace

double measure_h2d_gbps(Accelerator& accelerator, bool pinned, std::size_t bytes, int repeats, int trials) {
  const AllocatorBuffer dst(*accelerator.device_allocator(), bytes);
  std::optional<AllocatorBuffer> pinned_src;
  std::unique_ptr<unsigned char[]> pageable_src;
  void* src = nullptr;
  if (pinned) {
    pinned_src.emplace(*accelerator.pinned_allocator(), bytes);
    src = pinned_src->get();
  } else {
    pageable_src = std::make_unique<unsigned char[]>(bytes);
    src = pageable_src.get();
  }
  std::memset(src, 1, bytes);  // touch every page: no page faults inside the timing
  auto stream = accelerator.create_stream("bench h2d");
  stream->copy(dst.get(), src, bytes);  // warm-up: first-touch of the device pages, driver setup
  stream->synchronize();
  double best = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const auto t0 = Clock::now();
    for (int i = 0; i < repeats; ++i) stream->copy(dst.get(), src, bytes);
    stream->synchronize();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bytes) * repeats / seconds / 1e9);
  }
  return best;
}

PageCacheDrop drop_from_page_cache(const std::vector<std::filesystem::path>& files) {
  PageCacheDrop drop;
  for (const auto& path : files) {
    const FileDescriptor fd(path);
    const std::uint64_t size = file_size(fd.get(), path);
    ::fdatasync(fd.get());  // dirty pages (a model just written) cannot be dropped before write-back
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    drop.file_bytes += size;
    drop.cached_bytes += cached_bytes(fd.get(), size);
  }
  return drop;
}

double measure_disk_read_gbps(const std::vector<std::filesystem::path>& files, PageCacheDrop& drop) {
  constexpr std::size_t kBlock = std::size_t{16} << 20;
  drop = drop_from_page_cache(files);
  std::vector<unsigned char> buffer(kBlock);
  std::uint64_t total = 0;
  const auto t0 = Clock::now();
  for (const auto& path : files) {
    const FileDescriptor fd(path);
    for (std::uint64_t offset = 0;;) {
      const ssize_t n = ::pread(fd.get(), buffer.data(), kBlock, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError(path.string() + ": read failed: " + std::strerror(errno));
      if (n == 0) break;
      offset += static_cast<std::uint64_t>(n);
      total += static_cast<std::uint64_t>(n);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return seconds > 0 ? static_cast<double>(total) / seconds / 1e9 : 0;
}

}  // namespace vramkit::cli
