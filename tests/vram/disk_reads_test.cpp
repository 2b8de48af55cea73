// The disk tier's reads: O_DIRECT read plans (aligned supersets of each unit's tensors, no block read twice
// for one use), the bytes they bring in, the page cache first in auto mode, the fallback to buffered reads
// where the filesystem refuses O_DIRECT, and the manager streaming from disk with them: the same output bits,
// and exactly the predicted bytes read.
#include "vram/disk_reads.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <optional>
#include <set>
#include <utility>

#include "backends/emu/emu_accelerator.h"
#include "common/test_sizes.h"
#include "synthetic_model.h"
#include "vram/managed_model.h"
#include "vram/manager.h"
#include "vram/run_settings.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::uint64_t kDirectAlignment = 4096;

// Whether open(O_DIRECT) and an aligned read work for a file in `dir`.
bool direct_io_works_in(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto probe = dir / ("vramkit_direct_probe_" + std::to_string(::getpid()));
  {
    std::ofstream out(probe, std::ios::binary);
    if (!out) return false;
    out << std::string(kDirectAlignment, 'x');
  }
  bool works = false;
  const int fd = ::open(probe.c_str(), O_RDONLY | O_DIRECT);
  if (fd >= 0) {
    void* block = nullptr;
    if (posix_memalign(&block, kDirectAlignment, kDirectAlignment) == 0) {
      works = ::pread(fd, block, kDirectAlignment, 0) == static_cast<ssize_t>(kDirectAlignment);
      std::free(block);
    }
    ::close(fd);
  }
  std::filesystem::remove(probe, ec);
  return works;
}

// A directory whose filesystem accepts O_DIRECT: next to the test binary's working directory (the build tree,
// usually ext4 or xfs) or the temporary directory (which may be tmpfs, which refuses it).
std::optional<std::filesystem::path> direct_io_directory() {
  for (const auto& dir : {std::filesystem::current_path(), std::filesystem::temp_directory_path()})
    if (direct_io_works_in(dir)) return dir;
  return std::nullopt;
}

// Stands in for a filesystem that refuses O_DIRECT (tmpfs before Linux 6.6) while it is installed.
class RefuseDirectIo {
 public:
  RefuseDirectIo() : previous_(exchange_direct_open(&refuse)) {}
  ~RefuseDirectIo() { exchange_direct_open(previous_); }

 private:
  static int refuse(const char*, int) {
    errno = EINVAL;
    return -1;
  }
  DirectOpen previous_;
};

// How many of a file's pages the page cache holds (mincore over a mapping of it).
std::uint64_t cached_pages(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(path));
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t cached = 0;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map != MAP_FAILED) {
    std::vector<unsigned char> resident((size + page - 1) / page);
    if (::mincore(map, size, resident.data()) == 0)
      for (unsigned char r : resident) cached += r & 1;
    ::munmap(map, size);
  }
  ::close(fd);
  return cached;
}

// Whether a buffered RWF_NOWAIT read of the file's first byte succeeds (the kernel and the filesystem support
// it and the page is cached).
bool nowait_read_works(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  char byte = 0;
  iovec v{&byte, 1};
  const bool works = fd >= 0 && ::preadv2(fd, &v, 1, 0, RWF_NOWAIT) == 1;
  if (fd >= 0) ::close(fd);
  return works;
}

VramConfig bf16_disk() { return VramConfig::preset("disk").with_storage_dtype(DType::bf16); }

// The bytes a unit's direct reads must bring in, computed independently of DiskSource::plan: the union of its
// tensors' ranges widened to whole blocks (the last block ending at the end of the file).
std::uint64_t expected_direct_bytes(const std::vector<const WeightTensor*>& tensors, std::uint64_t file_size) {
  std::set<std::uint64_t> blocks;
  for (const WeightTensor* t : tensors)
    for (std::uint64_t b = t->file_offset / kDirectAlignment; b * kDirectAlignment < t->file_offset + t->bytes(); ++b)
      blocks.insert(b);
  std::uint64_t bytes = 0;
  for (std::uint64_t b : blocks) bytes += std::min(kDirectAlignment, file_size - b * kDirectAlignment);
  return bytes;
}

class DiskReadsTest : public ::testing::Test {
 protected:
  void write_model(const std::filesystem::path& parent) {
    dir_ = testing::test_folder(parent, "vramkit_disk_reads");
    files_ = model_.write(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The model streamed from disk (vram_limit 0 in `options`) on a new manager, after one forward that must
  // give the resident model's bits; the manager stays alive in `manager`.
  std::unique_ptr<ManagedModel> streamed_from_disk(std::optional<VramManager>& manager,
                                                   ManagerOptions options) {
    options.vram_limit = 0;
    const auto reference = reference_output();
    manager.emplace(std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0}), options);
    auto model = manager->add_model("disk", files_, leaf_module_units(*files_), bf16_disk());
    model->onload();
    EXPECT_EQ(model_.forward(*model), reference);
    return model;
  }

  std::vector<float> reference_output() {
    VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0}), {});
    auto model = manager.add_model("basic", files_, leaf_module_units(*files_), VramConfig::preset("none"));
    model->onload();
    return model_.forward(*model);
  }

  std::filesystem::path dir_;
  testing::SyntheticModel model_;
  std::shared_ptr<const WeightFiles> files_;
};

TEST(DirectIoOption, ParsesAndNamesTheOptionWhenBad) {
  EXPECT_EQ(parse_direct_io("auto"), DirectIo::automatic);
  EXPECT_EQ(parse_direct_io("on"), DirectIo::on);
  EXPECT_EQ(parse_direct_io("off"), DirectIo::off);
  VramArguments args;
  args.device = "emu";
  args.direct_io = "sometimes";
  try {
    resolve_vram_arguments(args);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("--direct-io: 'sometimes'"), std::string::npos) << e.what();
  }
  args.direct_io = "off";
  EXPECT_EQ(resolve_vram_arguments(args).manager.direct_io, DirectIo::off);
}

// Every unit's plan reads aligned blocks, each block once, covering its tensors, and brings in the file's bytes.
TEST_F(DiskReadsTest, DirectPlansReadAlignedBlocksOnceAndBringTheTensorsIn) {
  const auto parent = direct_io_directory();
  if (!parent) GTEST_SKIP() << "no directory here accepts O_DIRECT (the build tree and the temp dir refuse it)";
  write_model(*parent);
  const DiskSource source(*files_, DirectIo::on);
  ASSERT_TRUE(source.direct(0));
  ASSERT_EQ(source.alignment(0) % kDirectAlignment, 0u);
  const std::uint64_t file_size = files_->files()[0]->file_size();
  ASSERT_EQ(source.alignment(0), kDirectAlignment) << "this filesystem asks for a larger alignment";
  std::uint64_t total_tensor_bytes = 0, total_read = 0;
  for (const auto& spec : leaf_module_units(*files_)) {
    std::vector<const WeightTensor*> tensors;
    for (const auto& name : spec.tensors) tensors.push_back(files_->find(name));
    const DiskReadPlan plan = source.plan(tensors);
    EXPECT_EQ(plan.read_bytes, expected_direct_bytes(tensors, file_size)) << spec.name;
    for (std::size_t r = 0; r < plan.reads.size(); ++r) {
      const DiskRead& read = plan.reads[r];
      EXPECT_EQ(read.file_offset % kDirectAlignment, 0u);
      EXPECT_EQ(read.buffer_offset % kDirectAlignment, 0u);
      EXPECT_TRUE(read.length % kDirectAlignment == 0 || read.file_offset + read.length == file_size);
      if (r > 0) EXPECT_GT(read.file_offset, plan.reads[r - 1].file_offset + plan.reads[r - 1].length);
    }
    void* buffer = nullptr;
    ASSERT_EQ(posix_memalign(&buffer, source.buffer_alignment(), plan.buffer_bytes), 0);
    for (const DiskRead& read : plan.reads) source.read(read, static_cast<char*>(buffer));
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const Tensor view = files_->view(tensors[i]->name());
      EXPECT_EQ(std::memcmp(static_cast<char*>(buffer) + plan.tensor_offsets[i], view.data(), tensors[i]->bytes()), 0)
          << tensors[i]->name();
      total_tensor_bytes += tensors[i]->bytes();
    }
    std::free(buffer);
    total_read += plan.read_bytes;
  }
  // The norm units (192 bytes each) cost a whole block: direct reads read more than the tensors hold.
  EXPECT_GT(total_read, total_tensor_bytes);
}

// Disk streaming with O_DIRECT gives the same bits as the resident model, and reads exactly what the planner
// predicts: N forwards, plus what the reader ran ahead into the next one (a prefix of the execution order).
TEST_F(DiskReadsTest, DirectStreamingGivesTheSameBitsAndReadsThePredictedBytes) {
  const auto parent = direct_io_directory();
  if (!parent) GTEST_SKIP() << "no directory here accepts O_DIRECT (the build tree and the temp dir refuse it)";
  write_model(*parent);
  const auto reference = reference_output();
  for (const DirectIo mode : {DirectIo::on, DirectIo::off}) {
    ManagerOptions options;
    options.vram_limit = 0;
    options.direct_io = mode;
    options.disk_threads = 1;  // jobs complete in order, so the read-ahead is a prefix of the next pass
    auto emu = std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0});
    VramManager manager(emu, options);
    auto model = manager.add_model("disk", files_, leaf_module_units(*files_), bf16_disk());
    model->onload();
    const int forwards = 3;
    for (int f = 0; f < forwards; ++f) EXPECT_EQ(model_.forward(*model), reference);
    model->offload();
    const Plan& plan = model->plan();
    std::uint64_t tensor_bytes = 0;
    for (const auto& t : files_->tensors()) tensor_bytes += t.bytes();
    if (mode == DirectIo::on) {
      EXPECT_GT(plan.disk_bytes_per_forward, tensor_bytes);
    } else {
      EXPECT_EQ(plan.disk_bytes_per_forward, tensor_bytes);
    }
    const std::uint64_t read = manager.snapshot().bytes_disk_to_host;
    ASSERT_GE(read, forwards * plan.disk_bytes_per_forward);
    std::uint64_t extra = read - forwards * plan.disk_bytes_per_forward, prefix = 0;
    std::size_t u = 0;
    while (prefix < extra && u < plan.units.size()) prefix += plan.units[u++].disk_bytes;
    EXPECT_EQ(prefix, extra) << "the read-ahead is not a whole prefix of units";
    EXPECT_EQ(emu->pinned_allocator()->allocated_bytes(), 0u);
  }
}

// auto reads the pages the page cache holds from it (a file just written) and the rest directly, with the
// same bytes as `on`, which never looks at the page cache; the telemetry counts what the page cache served.
TEST_F(DiskReadsTest, AutoTakesCachedPagesFromThePageCacheFirst) {
  const auto parent = direct_io_directory();
  if (!parent)
    GTEST_SKIP() << "no directory here accepts O_DIRECT (the build tree and the temp dir refuse it)";
  write_model(*parent);
  const auto path = files_->files()[0]->path();
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const bool all_cached = cached_pages(path) == (files_->files()[0]->file_size() + page - 1) / page;
  if (!all_cached || !nowait_read_works(path))
    GTEST_SKIP() << "the file just written is not wholly in the page cache, or RWF_NOWAIT reads are refused";
  const DiskSource automatic(*files_, DirectIo::automatic), direct(*files_, DirectIo::on);
  ASSERT_TRUE(automatic.direct(0));
  // Reads every unit through `source`, checks the tensors' bytes, returns {bytes read, of them from the
  // cache}.
  auto read_every_unit = [&](const DiskSource& source) {
    std::pair<std::uint64_t, std::uint64_t> totals{0, 0};
    for (const auto& spec : leaf_module_units(*files_)) {
      std::vector<const WeightTensor*> tensors;
      for (const auto& name : spec.tensors) tensors.push_back(files_->find(name));
      const DiskReadPlan plan = source.plan(tensors);
      void* buffer = nullptr;
      if (posix_memalign(&buffer, source.buffer_alignment(), plan.buffer_bytes) != 0) throw std::bad_alloc();
      for (const DiskRead& read : plan.reads) totals.second += source.read(read, static_cast<char*>(buffer));
      for (std::size_t i = 0; i < tensors.size(); ++i)
        EXPECT_EQ(std::memcmp(static_cast<char*>(buffer) + plan.tensor_offsets[i],
                              files_->view(tensors[i]->name()).data(), tensors[i]->bytes()),
                  0)
            << tensors[i]->name();
      std::free(buffer);
      totals.first += plan.read_bytes;
    }
    return totals;
  };
  const auto [read_bytes, from_cache] = read_every_unit(automatic);
  EXPECT_EQ(from_cache, read_bytes);
  EXPECT_EQ(read_every_unit(direct).second, 0u);
  // Through the manager: every disk byte of a forward from the page cache, and the same output bits.
  std::optional<VramManager> manager;
  streamed_from_disk(manager, {})->offload();
  const TelemetrySnapshot t = manager->snapshot();
  EXPECT_GT(t.bytes_disk_to_host, 0u);
  EXPECT_EQ(t.bytes_disk_from_page_cache, t.bytes_disk_to_host);
  // Dropped from the page cache (where the filesystem lets its pages go): every byte from the disk.
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (cached_pages(path) == 0) EXPECT_EQ(read_every_unit(automatic).second, 0u);
}

// Where the filesystem refuses O_DIRECT, `auto` falls back to buffered reads and `on` is a clear error.
TEST_F(DiskReadsTest, AFilesystemThatRefusesDirectIoFallsBackOrFailsClearly) {
  write_model(std::filesystem::temp_directory_path());
  const RefuseDirectIo refuse;
  const DiskSource fallback(*files_, DirectIo::automatic);
  EXPECT_FALSE(fallback.direct(0));
  EXPECT_EQ(fallback.alignment(0), 1u);
  try {
    DiskSource source(*files_, DirectIo::on);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(model_.path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("refuses O_DIRECT"), std::string::npos) << e.what();
  }
  std::optional<VramManager> manager;
  const auto model = streamed_from_disk(manager, {});
  std::uint64_t tensor_bytes = 0;
  for (const auto& t : files_->tensors()) tensor_bytes += t.bytes();
  EXPECT_EQ(model->plan().disk_bytes_per_forward, tensor_bytes);  // buffered: exactly the tensors' bytes
  model->offload();
  ManagerOptions options;
  options.direct_io = DirectIo::on;
  VramManager strict(std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0}), options);
  EXPECT_THROW(strict.add_model("disk", files_, leaf_module_units(*files_), bf16_disk()), IoError);
}

// A file truncated after it was opened: the forward fails with a FormatError naming the file and the tensor.
TEST_F(DiskReadsTest, AFileTruncatedAfterOpeningIsAClearError) {
  write_model(direct_io_directory().value_or(std::filesystem::temp_directory_path()));
  for (const DirectIo mode : {DirectIo::automatic, DirectIo::off}) {
    ManagerOptions options;
    options.vram_limit = 0;  // nothing resident: every byte comes through the readers, none through the mapping
    options.direct_io = mode;
    VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0}), options);
    auto model = manager.add_model("disk", files_, leaf_module_units(*files_), bf16_disk());
    model->onload();
    const std::uint64_t size = files_->files()[0]->file_size();
    std::filesystem::resize_file(model_.path, size / 2);
    try {
      model_.forward(*model);
      FAIL() << "the forward read a truncated file";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(model_.path.string()), std::string::npos) << what;
      EXPECT_NE(what.find("truncated"), std::string::npos) << what;
      EXPECT_NE(what.find("blocks."), std::string::npos) << what;
    }
    model->offload();
    std::filesystem::resize_file(model_.path, size);  // zeros: the next mode truncates it again
  }
}

}  // namespace
}  // namespace vramkit
