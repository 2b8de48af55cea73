// The disk tier's reads: the safetensors files opened a second time for the reader threads (with O_DIRECT
// where the filesystem allows it), and each unit's read plan, the aligned byte ranges that bring its tensors
// into a pinned buffer.
//
// O_DIRECT bypasses the page cache, so every byte comes from the device once per use and a model larger than
// the host's RAM does not evict everything else. It needs the file offset, the length and the buffer address
// aligned to the file's direct-I/O alignment (4096 bytes, or more where statx reports it). Tensors sit at
// arbitrary offsets in a safetensors file, so a unit's tensors are grouped into runs whose aligned ranges
// touch or overlap (adjacent tensors share blocks), each run is read as one aligned superset, and the tensors
// are copied to the device from their unaligned offsets inside the buffer: no host-side bounce copy. Buffered
// reads use the same plan with alignment 1 (one pread per run of contiguous tensors).
//
// Page cache first (direct_io auto): where the file's pages are already cached (a model just downloaded or
// written, or read by another program), a direct read would fetch from the disk what RAM holds. So a run is
// first read through a second, buffered descriptor with RWF_NOWAIT, which copies only cached pages and stops
// at the first one that is not; the direct read brings the rest. Nothing is added to the cache this way
// (measured on an H100 machine: the 4-block bench's warm disk mode read at the disk's 1.5 GB/s while
// DiffSynth-Studio's read the cached file in a third less time).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "io/model_files.h"

namespace vramkit {

// ManagerOptions::direct_io: auto = O_DIRECT where the filesystem accepts it, for the pages the page cache
// does not hold already, and buffered reads elsewhere (logged once per file); on = O_DIRECT only, or an
// IoError; off = buffered reads through the page cache.
enum class DirectIo { automatic, on, off };

// "auto", "on", "off". Throws ArgumentError naming `option` and the value.
DirectIo parse_direct_io(const std::string& s, const std::string& option = "direct_io");

// One read of a run: [file_offset, file_offset + length) of file `file` into the buffer at buffer_offset.
// file_offset and buffer_offset are multiples of the file's alignment; length is too, except for a run that
// ends at the end of the file (a direct read of the last partial block returns what the file holds).
struct DiskRead {
  std::size_t file = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;
  std::uint64_t buffer_offset = 0;
  std::string tensors;  // the names of the tensors it brings in, for messages
};

struct DiskReadPlan {
  std::vector<DiskRead> reads;               // in file order
  std::vector<std::uint64_t> tensor_offsets;  // per source tensor: where its first byte lands in the buffer
  std::uint64_t buffer_bytes = 0;             // the buffer the reads need (a multiple of the largest alignment)
  std::uint64_t read_bytes = 0;               // bytes read from disk per use: the sum of the reads' lengths
};

// The open(2) DiskSource calls for its O_DIRECT descriptors. Tests swap it (and swap the old one back) to
// emulate a filesystem that refuses O_DIRECT where none is at hand (tmpfs accepts it since Linux 6.6).
using DirectOpen = int (*)(const char* path, int flags);
DirectOpen exchange_direct_open(DirectOpen open);

// The safetensors files of a WeightFiles set, opened again for the disk readers.
class DiskSource {
 public:
  // Opens every file of `files`. Throws IoError naming the file when it cannot be opened, or when `mode` is on
  // and the file's filesystem refuses O_DIRECT.
  DiskSource(const WeightFiles& files, DirectIo mode);
  ~DiskSource();
  DiskSource(const DiskSource&) = delete;
  DiskSource& operator=(const DiskSource&) = delete;

  // 1 for a file read through the page cache.
  std::uint64_t alignment(std::size_t file) const { return files_[file].alignment; }
  bool direct(std::size_t file) const { return files_[file].alignment > 1; }
  // The largest alignment (the address alignment the buffers need).
  std::uint64_t buffer_alignment() const;

  // The reads that bring `tensors` (all from this set) into a buffer.
  DiskReadPlan plan(const std::vector<const WeightTensor*>& tensors) const;
  // Performs one read into `buffer` (aligned to buffer_alignment()), retrying EINTR and short reads; returns
  // the bytes the page cache served (page cache first, above; 0 for a direct read from the disk). Throws
  // FormatError naming the file and the tensors when the file ends early (truncated after opening), IoError
  // on a read error. Safe to call from several threads.
  std::uint64_t read(const DiskRead& read, char* buffer) const;

 private:
  struct File {
    std::string path;
    int fd = -1;
    int cached_fd = -1;  // buffered, beside a direct fd in auto mode: the page cache first
    std::uint64_t alignment = 1;
    std::uint64_t size = 0;  // when WeightFiles opened it
  };
  // The cached prefix of `read` copied into `out` with RWF_NOWAIT: its length.
  std::uint64_t read_cached(const File& f, const DiskRead& read, char* out) const;

  std::vector<File> files_;
  // Cleared for good when the kernel or the filesystem refuses RWF_NOWAIT on buffered reads.
  mutable std::atomic<bool> page_cache_first_{true};
};

}  // namespace vramkit
