// DiskSource: the disk tier's file descriptors (O_DIRECT where allowed, the page cache first), read plans and
// retrying reads.
#include "vram/disk_reads.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {
namespace {

constexpr std::uint64_t kDefaultDirectAlignment = 4096;

std::uint64_t align_down(std::uint64_t n, std::uint64_t a) { return n / a * a; }
std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

std::string os_error(const std::string& path, const std::string& what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

// The direct-I/O alignment of an O_DIRECT descriptor: 4096 bytes (a multiple of every common logical block
// size), or what statx reports when it is larger. 0 when statx says the file does not support direct I/O.
std::uint64_t direct_alignment(int fd) {
  std::uint64_t alignment = kDefaultDirectAlignment;
#ifdef STATX_DIOALIGN
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
    if (sx.stx_dio_offset_align == 0) return 0;
    alignment = std::max<std::uint64_t>({alignment, sx.stx_dio_offset_align, sx.stx_dio_mem_align});
  }
#else
  (void)fd;
#endif
  return alignment;
}

// Some filesystems accept open(O_DIRECT) and refuse the reads (EINVAL): one aligned read of the first block
// finds out at open time rather than in a reader thread.
bool direct_read_works(int fd, std::uint64_t alignment) {
  void* block = nullptr;
  if (posix_memalign(&block, alignment, alignment) != 0) throw OutOfMemory("cpu", alignment, "posix_memalign");
  ssize_t got;
  do {
    got = ::pread(fd, block, alignment, 0);
  } while (got < 0 && errno == EINTR);
  const int err = errno;
  std::free(block);
  errno = err;
  return got >= 0;
}

int open_file(const char* path, int flags) { return ::open(path, flags); }

std::atomic<DirectOpen> direct_open{&open_file};

}  // namespace

DirectOpen exchange_direct_open(DirectOpen open) { return direct_open.exchange(open); }

DirectIo parse_direct_io(const std::string& s, const std::string& option) {
  if (s == "auto") return DirectIo::automatic;
  if (s == "on") return DirectIo::on;
  if (s == "off") return DirectIo::off;
  throw ArgumentError(option + ": '" + s + "' is not auto, on or off");
}

DiskSource::DiskSource(const WeightFiles& files, DirectIo mode) {
  try {
    for (const auto& opened : files.files()) {
      File& f = files_.emplace_back();
      f.path = opened->path().string();
      f.size = opened->file_size();
      if (mode != DirectIo::off) {
        f.fd = direct_open.load()(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        if (f.fd < 0 && errno != EINVAL) throw IoError(os_error(f.path, "cannot open with O_DIRECT", errno));
        if (f.fd >= 0) {
          f.alignment = direct_alignment(f.fd);
          if (f.alignment == 0 || !direct_read_works(f.fd, f.alignment)) {
            if (f.alignment != 0 && errno != EINVAL) throw IoError(os_error(f.path, "direct read", errno));
            ::close(f.fd);
            f.fd = -1;
            f.alignment = 1;
          }
        }
        if (f.fd < 0) {
          if (mode == DirectIo::on)
            throw IoError(f.path + ": direct_io is on, but the file's filesystem refuses O_DIRECT (EINVAL); " +
                          "use direct_io auto or off");
          log_info(f.path + ": the filesystem refuses O_DIRECT; the disk tier reads this file through the page cache");
        }
      }
      if (f.fd < 0) {
        f.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (f.fd < 0) throw IoError(os_error(f.path, "cannot open", errno));
      } else if (mode == DirectIo::automatic) {
        f.cached_fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (f.cached_fd < 0) throw IoError(os_error(f.path, "cannot open", errno));
      }
    }
  } catch (...) {
    for (const File& f : files_)
      for (int fd : {f.fd, f.cached_fd})
        if (fd >= 0) ::close(fd);
    throw;
  }
}

DiskSource::~DiskSource() {
  for (const File& f : files_)
    for (int fd : {f.fd, f.cached_fd})
      if (fd >= 0) ::close(fd);
}

std::uint64_t DiskSource::buffer_alignment() const {
  std::uint64_t a = 1;
  for (const File& f : files_) a = std::max(a, f.alignment);
  return a;
}

DiskReadPlan DiskSource::plan(const std::vector<const WeightTensor*>& tensors) const {
  const std::uint64_t buffer_alignment = this->buffer_alignment();
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const WeightTensor &x = *tensors[a], &y = *tensors[b];
    return x.file_index != y.file_index ? x.file_index < y.file_index : x.file_offset < y.file_offset;
  });
  DiskReadPlan plan;
  plan.tensor_offsets.assign(tensors.size(), 0);
  for (std::size_t i : order) {
    const WeightTensor& t = *tensors[i];
    if (t.bytes() == 0) continue;
    const File& f = files_.at(t.file_index);
    const std::uint64_t begin = align_down(t.file_offset, f.alignment);
    // A direct read of the last partial block returns what the file holds: the run ends at the end of the file.
    const std::uint64_t end = std::min(align_up(t.file_offset + t.bytes(), f.alignment), f.size);
    DiskRead* run = plan.reads.empty() ? nullptr : &plan.reads.back();
    // Tensors whose aligned ranges touch or overlap share one read, so no block is read twice for one use.
    if (run && run->file == t.file_index && begin <= run->file_offset + run->length) {
      run->length = std::max(run->length, end - run->file_offset);
      run->tensors += ", " + t.name();
    } else {
      run = &plan.reads.emplace_back(DiskRead{t.file_index, begin, end - begin, plan.buffer_bytes, t.name()});
    }
    plan.tensor_offsets[i] = run->buffer_offset + (t.file_offset - run->file_offset);
    // The next run starts at an address every file's direct reads accept; the last block of a run that ends
    // at the end of the file is requested whole, so the buffer covers it.
    plan.buffer_bytes = align_up(run->buffer_offset + align_up(run->length, f.alignment), buffer_alignment);
  }
  for (const DiskRead& r : plan.reads) plan.read_bytes += r.length;
  return plan;
}

std::uint64_t DiskSource::read_cached(const File& f, const DiskRead& read, char* out) const {
  std::uint64_t done = 0;
  while (done < read.length) {
    iovec piece{out + done, static_cast<std::size_t>(read.length - done)};
    const ssize_t got =
        ::preadv2(f.cached_fd, &piece, 1, static_cast<off_t>(read.file_offset + done), RWF_NOWAIT);
    if (got > 0) {
      done += static_cast<std::uint64_t>(got);
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
      page_cache_first_.store(false, std::memory_order_relaxed);
    break;  // EAGAIN: the next page is not cached; 0: the end of the file (the direct read reports it)
  }
  return done;
}

std::uint64_t DiskSource::read(const DiskRead& read, char* buffer) const {
  const File& f = files_.at(read.file);
  char* out = buffer + read.buffer_offset;
  const std::uint64_t request = align_up(read.length, f.alignment);
  std::uint64_t done = 0;
  if (f.cached_fd >= 0 && page_cache_first_.load(std::memory_order_relaxed)) done = read_cached(f, read, out);
  const std::uint64_t cached = done;
  while (done < read.length) {
    // A direct read must resume at an aligned position: after a short read that stopped inside a block, that
    // block is read again (the same bytes, into the same place).
    const std::uint64_t from = align_down(done, f.alignment);
    const ssize_t got = ::pread(f.fd, out + from, static_cast<std::size_t>(request - from),
                                static_cast<off_t>(read.file_offset + from));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(os_error(f.path, "read of tensor(s) " + read.tensors + " at byte " +
                                         std::to_string(read.file_offset + from),
                             errno));
    }
    const std::uint64_t reached = from + static_cast<std::uint64_t>(got);
    if (reached <= done)
      throw FormatError(f.path + ": tensor(s) " + read.tensors + ": the file ends at byte " +
                        std::to_string(read.file_offset + reached) + ", before byte " +
                        std::to_string(read.file_offset + read.length) + " (was it truncated after it was opened?)");
    done = reached;
  }
  return cached;
}

}  // namespace vramkit
