// The physical ceilings `vramkit bench` measures in the same run as the memory modes, so every ratio it
// prints compares against this machine, not a datasheet: host -> device copy rates from pinned and from
// pageable memory on the run's accelerator, and the cold read rate of the model's files; plus dropping those
// files from the page cache (for the cold disk mode), with a check of what is still cached.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/accelerator.h"

namespace vramkit::cli {

// GB/s (1e9 bytes) of `repeats` copies of `bytes` from a host buffer to a device buffer on a new stream of
// `accelerator`, timed from the first enqueue to the stream's completion; the best of `trials` such batches
// (a ceiling is the rate the link can reach: one batch measured 34 GB/s on an H100 whose streaming reached
// 47, right after the test model was written). The host buffer is pinned (the accelerator's pinned
// allocator) or pageable (ordinary heap memory). OutOfMemory when the device cannot hold the buffer.
double measure_h2d_gbps(Accelerator& accelerator, bool pinned, std::size_t bytes = std::size_t{64} << 20,
                        int repeats = 16, int trials = 5);

struct PageCacheDrop {
  std::uint64_t file_bytes = 0;    // total size of the files
  std::uint64_t cached_bytes = 0;  // bytes still in the page cache afterwards (mincore); 0 when it worked
};

// Writes back and drops the pages of `files` from the page cache: fdatasync, then
// posix_fadvise(POSIX_FADV_DONTNEED). The kernel keeps pages that some process has mapped and touched, dirty
// pages it could not write back, and, on file systems that ignore the advice (some FUSE and network ones),
// everything; `cached_bytes` tells how much it kept. IoError naming a file that cannot be opened.
PageCacheDrop drop_from_page_cache(const std::vector<std::filesystem::path>& files);

// GB/s of reading `files` whole with pread in 16 MiB blocks, one file after the other, after dropping them
// from the page cache; `drop` receives what the drop achieved (a cached file reads at memory speed).
double measure_disk_read_gbps(const std::vector<std::filesystem::path>& files, PageCacheDrop& drop);

}  // namespace vramkit::cli
