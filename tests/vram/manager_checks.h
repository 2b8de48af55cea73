// The VRAM manager's checks on any accelerator (common/device_under_test.h; instantiated for the emulated
// device in manager_test.cpp and for CUDA in tests/cuda_models/manager_cuda_test.cpp), with the synthetic
// model: every memory mode gives the same output (bit for bit where the dtypes are the same), the budget is
// kept, bytes moved match the plan, the disk tier works under a host-RAM cap, onload/offload cycles leak
// nothing, and misuse is a clear error.
//
// Holds TEST_P definitions: include it in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/device_under_test.h"
#include "common/test_sizes.h"
#include "vram/managed_model.h"
#include "vram/manager.h"
#include "vram/run_settings.h"
#include "vram/synthetic_model.h"
#include "vramkit/error.h"

namespace vramkit::manager_checks {

struct Mode {
  std::string name;
  VramConfig config;
  std::optional<std::uint64_t> limit;
};

inline VramConfig bf16(const char* preset) {
  return VramConfig::preset(preset).with_storage_dtype(DType::bf16);
}

class ManagerOnDevice : public ::testing::TestWithParam<test::DeviceUnderTest> {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_DEVICE(GetParam());
    dir_ = testing::test_folder(std::filesystem::temp_directory_path(), "vramkit_manager");
    files_ = model_.write(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A fresh accelerator on the device under test.
  std::shared_ptr<Accelerator> accelerator() const { return GetParam().accelerator(); }

  // Total resident bytes if every unit were resident in bf16; budgets are expressed as fractions of it.
  std::uint64_t model_bytes(const VramConfig& config) {
    VramManager m(accelerator(), {});
    auto model = m.add_model("probe", files_, leaf_module_units(*files_), config);
    std::uint64_t total = 0;
    for (const auto& u : model->units()) total += u.resident.bytes;
    return total;
  }

  struct Run {
    std::vector<std::vector<float>> outputs;
    Plan plan;
    TelemetrySnapshot telemetry;
  };

  // `passes`: announced before the onload (0: not).
  Run run(const Mode& mode, int forwards = 3, ManagerOptions options = {}, int passes = 0) {
    auto acc = accelerator();
    options.vram_limit = mode.limit;
    VramManager manager(acc, options);
    auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), mode.config);
    if (passes > 0) model->announce_passes(passes);
    model->onload();
    Run r;
    r.plan = model->plan();
    for (int f = 0; f < forwards; ++f) r.outputs.push_back(model_.forward(*model));
    model->offload();
    r.telemetry = manager.snapshot();
    model.reset();
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u) << mode.name;
    EXPECT_EQ(acc->pinned_allocator()->allocated_bytes(), 0u) << mode.name;
    return r;
  }

  std::filesystem::path dir_;
  testing::SyntheticModel model_;
  std::shared_ptr<const WeightFiles> files_;
};

TEST_P(ManagerOnDevice, EveryBf16ModeGivesTheSameBits) {
  const std::uint64_t half = model_bytes(bf16("dynamic")) / 2;
  const std::vector<Mode> modes = {
      {"basic", VramConfig::preset("none"), std::nullopt},
      {"cpu offload", VramConfig::preset("cpu"), std::nullopt},
      {"stream everything", bf16("dynamic"), 0},
      {"half resident", bf16("dynamic"), half},
      {"disk, stream everything", bf16("disk"), 0},
      {"disk, half resident", bf16("disk"), half},
  };
  const Run reference = run(modes[0]);
  for (const auto& out : reference.outputs) EXPECT_EQ(out, reference.outputs[0]);
  for (const auto& mode : modes) {
    const Run r = run(mode);
    for (const auto& out : r.outputs) EXPECT_EQ(out, reference.outputs[0]) << mode.name;
  }
}

TEST_P(ManagerOnDevice, Fp8ModesAgreeWithEachOtherAndApproximateBf16) {
  const std::uint64_t half = model_bytes(VramConfig::preset("dynamic")) / 2;
  const Run bf = run({"basic", VramConfig::preset("none"), std::nullopt}, 1);
  const std::vector<Mode> modes = {
      {"fp8 resident", VramConfig::preset("fp8"), std::nullopt},
      {"fp8 streamed", VramConfig::preset("dynamic"), 0},
      {"fp8 half resident", VramConfig::preset("dynamic"), half},
  };
  const Run first = run(modes[0], 1);
  for (const auto& mode : modes) {
    const Run r = run(mode, 1);
    EXPECT_EQ(r.outputs[0], first.outputs[0]) << mode.name;
  }
  // Per-channel e4m3fn weights (3 mantissa bits) through 6 normalized blocks: a few percent, documented.
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < bf.outputs[0].size(); ++i) {
    err += std::pow(first.outputs[0][i] - bf.outputs[0][i], 2);
    ref += std::pow(bf.outputs[0][i], 2);
  }
  EXPECT_LT(std::sqrt(err / ref), 0.08);
  EXPECT_GT(std::sqrt(err / ref), 0.0);  // it really went through fp8
}

TEST_P(ManagerOnDevice, PeakDeviceBytesStayWithinTheLimit) {
  const std::uint64_t total = model_bytes(bf16("dynamic"));
  for (double fraction : {0.5, 0.8, 1.2}) {
    const auto limit = static_cast<std::uint64_t>(static_cast<double>(total) * fraction);
    const Run r = run({"dynamic", bf16("dynamic"), limit});
    ASSERT_EQ(r.plan.over_limit_bytes, 0u) << fraction;
    EXPECT_LE(r.telemetry.peak_device_bytes, limit) << fraction;
    EXPECT_EQ(r.telemetry.peak_device_bytes, r.plan.peak_device_bytes) << fraction;
    // By kind: the plan's residents and ring.
    EXPECT_EQ(r.telemetry.peak_resident_bytes, r.plan.resident_bytes) << fraction;
    EXPECT_EQ(r.telemetry.peak_staging_bytes, r.plan.ring_bytes) << fraction;
  }
  // Limit 0: everything streams and the peak is exactly the ring the warning names.
  const Run zero = run({"zero", bf16("dynamic"), 0});
  EXPECT_EQ(zero.plan.resident_count(), 0u);
  EXPECT_GT(zero.plan.over_limit_bytes, 0u);
  EXPECT_EQ(zero.telemetry.peak_device_bytes, zero.plan.over_limit_bytes);
  EXPECT_EQ(zero.telemetry.peak_resident_bytes, 0u);
  EXPECT_EQ(zero.telemetry.peak_staging_bytes, zero.plan.ring_bytes);
}

// With the passes announced, streaming stops after the last: the bytes moved are exactly the plan's. A pass
// beyond the announced ones still runs (its units copied on demand) and gives the same output.
TEST_P(ManagerOnDevice, AnnouncedPassesMoveExactlyThePlannedBytes) {
  const std::uint64_t third = model_bytes(VramConfig::preset("dynamic")) / 3;
  for (const Mode& mode : {Mode{"fp8 third", VramConfig::preset("dynamic"), third},
                           Mode{"bf16 none", bf16("dynamic"), 0}, Mode{"disk", bf16("disk"), third}}) {
    for (const int forwards : {3, 4}) {  // 4: one pass beyond the 3 announced
      SCOPED_TRACE(mode.name + ", " + std::to_string(forwards) + " forwards");
      const Run r = run(mode, forwards, {}, 3);
      for (const auto& out : r.outputs) EXPECT_EQ(out, r.outputs[0]);
      EXPECT_EQ(r.telemetry.bytes_host_to_device,
                forwards * r.plan.stream_bytes_per_forward + r.plan.resident_bytes);
      const bool disk = mode.name == "disk";
      EXPECT_EQ(r.telemetry.bytes_disk_to_host,
                disk ? forwards * r.plan.disk_bytes_per_forward + r.plan.resident_bytes : 0u);
    }
  }
}

// An onloaded model announced again between passes (the VAE decoder's one pass or tiles per decode): each
// announcement restarts streaming under its count, so every pass is prefetched and nothing more moves; in the
// middle of a pass it is refused.
TEST_P(ManagerOnDevice, PassesAnnouncedBetweenPassesOfAnOnloadedModel) {
  for (const Mode& mode : {Mode{"bf16 none", bf16("dynamic"), 0}, Mode{"disk", bf16("disk"), 0}}) {
    SCOPED_TRACE(mode.name);
    auto acc = accelerator();
    ManagerOptions options;
    options.vram_limit = mode.limit;
    VramManager manager(acc, options);
    auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), mode.config);
    EXPECT_THROW(model->announce_passes(0), ArgumentError);
    model->announce_passes(1);
    model->onload();
    const std::vector<float> first = model_.forward(*model);
    for (const int passes : {2, 1}) {  // 1 forward then 2, then 1 more, each announced before it starts
      model->announce_passes(passes);
      for (int f = 0; f < passes; ++f) EXPECT_EQ(model_.forward(*model), first);
    }
    {
      const UnitLease held = model->acquire(0);
      EXPECT_THROW(model->announce_passes(1), ArgumentError);
    }
    model->rewind();
    const Plan plan = model->plan();
    const TelemetrySnapshot t = manager.snapshot();
    // Four passes, and the one unit acquired before the rewind.
    const std::uint64_t first_unit = model->units()[0].stream_copy_bytes();
    EXPECT_EQ(t.bytes_host_to_device, 4 * plan.stream_bytes_per_forward + first_unit);
    model->offload();
  }
}

TEST_P(ManagerOnDevice, BytesMovedMatchThePlan) {
  const std::uint64_t third = model_bytes(VramConfig::preset("dynamic")) / 3;
  const int forwards = 4;
  for (const Mode& mode : {Mode{"fp8 third", VramConfig::preset("dynamic"), third},
                           Mode{"bf16 none", bf16("dynamic"), 0}, Mode{"disk", bf16("disk"), third}}) {
    const Run r = run(mode, forwards);
    // The copy thread may have run ahead into a forward that never came by at most the ring; the disk readers
    // by the ring and their buffers, less than a forward of this model.
    const std::uint64_t h2d = forwards * r.plan.stream_bytes_per_forward + r.plan.resident_bytes;
    EXPECT_GE(r.telemetry.bytes_host_to_device, h2d) << mode.name;
    EXPECT_LE(r.telemetry.bytes_host_to_device, h2d + r.plan.ring_bytes) << mode.name;
    if (mode.name == "disk") {
      const std::uint64_t disk = forwards * r.plan.disk_bytes_per_forward;
      EXPECT_GE(r.telemetry.bytes_disk_to_host, disk + r.plan.resident_bytes);
      EXPECT_LE(r.telemetry.bytes_disk_to_host, disk + r.plan.resident_bytes + r.plan.disk_bytes_per_forward);
    } else {
      EXPECT_EQ(r.telemetry.bytes_disk_to_host, 0u);
    }
  }
}

// The staging ring holds units by bytes, not slots: with nothing released, the copy thread stages as many
// units as fit one after the other in the ring's bytes (here more than ring_slots: the norms are small), and
// a larger lookahead stages more. The outputs stay the same bits.
TEST_P(ManagerOnDevice, TheByteRingStagesMoreSmallUnitsThanSlots) {
  const auto reference = run({"basic", VramConfig::preset("none"), std::nullopt}, 1).outputs[0];
  std::size_t previous_in_flight = 0;
  for (const std::uint64_t lookahead : {std::uint64_t{0}, std::uint64_t{4 * 18688}, std::uint64_t{1} << 20}) {
    auto acc = accelerator();
    ManagerOptions options;
    options.vram_limit = 0;
    options.lookahead_bytes = lookahead;
    VramManager manager(acc, options);
    auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), bf16("dynamic"));
    model->onload();
    const Plan& plan = model->plan();
    EXPECT_EQ(plan.ring_bytes, std::max<std::uint64_t>(lookahead, 3 * plan.largest_staging_bytes));
    // Before the first acquire: units 0, 1, ... (on into the next passes) placed from the ring's start while
    // they fit before its end.
    std::size_t fit = 0;
    for (std::uint64_t used = 0;; ++fit) {
      used += model->units()[fit % model->units().size()].staging_bytes();
      if (used > plan.ring_bytes) break;
    }
    ASSERT_GT(fit, static_cast<std::size_t>(options.ring_slots));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (manager.snapshot().max_staged_in_flight < fit && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(manager.snapshot().max_staged_in_flight, fit) << "lookahead " << lookahead;
    EXPECT_GE(fit, previous_in_flight);
    previous_in_flight = fit;
    for (int f = 0; f < 3; ++f) EXPECT_EQ(model_.forward(*model), reference) << "lookahead " << lookahead;
    model->offload();
    EXPECT_EQ(acc->device_allocator()->peak_bytes(), plan.peak_device_bytes);
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u);
  }
}

// A model may hold ring_slots staged leases at once, as a sliding window over the execution order, whatever
// the mix of unit sizes: the ring never makes the next unit wait for a held one. Every lease holds the file's
// bytes.
TEST_P(ManagerOnDevice, ASlidingWindowOfRingSlotsLeasesNeverWaitsForItself) {
  for (const int slots : {1, 2, 3}) {
    ManagerOptions options;
    options.vram_limit = 0;
    options.ring_slots = slots;
    VramManager manager(accelerator(), options);
    auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), bf16("dynamic"));
    model->onload();
    for (int pass = 0; pass < 3; ++pass) {
      std::deque<UnitLease> held;
      for (std::size_t u = 0; u < model->units().size(); ++u) {
        if (held.size() == static_cast<std::size_t>(slots)) held.pop_front();
        held.push_back(model->acquire(u));
        const auto& sources = model->units()[u].sources;
        for (std::size_t i = 0; i < sources.size(); ++i)
          ASSERT_EQ(held.back()[i].to_floats(), files_->view(sources[i]->name()).to_floats())
              << sources[i]->name() << ", " << slots << " slots";
      }
    }
    model->offload();
  }
}

// A model registered with its units out of execution order (here reversed) and record_order: the first pass
// stages each unit as it is acquired and records the order; later passes prefetch in it (units run ahead of
// the computation) and give the same bits, from host copies, from disk, with resident units in between.
TEST_P(ManagerOnDevice, TheFirstPassRecordsTheExecutionOrder) {
  const auto reference = run({"basic", VramConfig::preset("none"), std::nullopt}, 1).outputs[0];
  const std::uint64_t half = model_bytes(bf16("dynamic")) / 2;
  for (const Mode& mode :
       {Mode{"stream everything", bf16("dynamic"), 0}, Mode{"half resident", bf16("dynamic"), half},
        Mode{"disk", bf16("disk"), 0}, Mode{"fp8 resident, upcast", VramConfig::preset("fp8"), 0}}) {
    auto acc = accelerator();
    ManagerOptions options;
    options.vram_limit = mode.limit;
    VramManager manager(acc, options);
    auto units = leaf_module_units(*files_);
    std::reverse(units.begin(), units.end());
    ModelOptions model_options;
    model_options.record_order = true;
    auto model = manager.add_model("synthetic", files_, units, mode.config, model_options);
    for (int cycle = 0; cycle < 2; ++cycle) {  // the order outlives an offload
      model->announce_passes(3);               // the recorded one counts: streaming stops after two more
      model->onload();
      EXPECT_EQ(model->recording_order(), cycle == 0) << mode.name;
      // With the order known, streaming starts at onload: a head start lets the copy thread fill the ring
      // before the first acquire, whatever the machine's load (checked below).
      if (cycle == 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const auto first = model_.forward(*model);
      if (mode.name.starts_with("fp8")) {
        EXPECT_NE(first, reference);  // fp8 weights: compared with the next passes only
      } else {
        EXPECT_EQ(first, reference) << mode.name;
      }
      if (cycle == 0) {
        EXPECT_EQ(manager.snapshot().max_staged_in_flight, 0u) << "the recorded pass prefetches nothing";
      }
      for (int f = 0; f < 2; ++f) EXPECT_EQ(model_.forward(*model), first) << mode.name;
      EXPECT_FALSE(model->recording_order());
      EXPECT_EQ(manager.snapshot().bytes_host_to_device,
                3 * model->plan().stream_bytes_per_forward + model->plan().resident_bytes)
          << mode.name << ", cycle " << cycle;
      if (cycle == 1 && mode.limit == std::optional<std::uint64_t>(0)) {
        EXPECT_GT(manager.snapshot().max_staged_in_flight, 1u) << mode.name;
      }
      model->offload();
      manager.telemetry().reset();
    }
    model.reset();
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u) << mode.name;
    EXPECT_EQ(acc->pinned_allocator()->allocated_bytes(), 0u) << mode.name;
  }
}

// Once recorded, a pass that leaves the order is an ArgumentError naming the expected and the acquired unit;
// a second pass may not begin while leases of the recorded one are held.
TEST_P(ManagerOnDevice, APassThatLeavesTheRecordedOrderIsAClearError) {
  ManagerOptions options;
  options.vram_limit = 0;
  VramManager manager(accelerator(), options);
  ModelOptions model_options;
  model_options.record_order = true;
  auto model = manager.add_model("m", files_, leaf_module_units(*files_), bf16("dynamic"), model_options);
  model->onload();
  const std::size_t norm0 = model->unit_index("blocks.0.norm"),
                    linear0 = model->unit_index("blocks.0.linear");
  { auto norm = model->acquire(norm0); }  // recorded first: the norm, then the linear
  {
    auto linear = model->acquire(linear0);
    try {
      model->acquire(norm0);  // the second pass begins while the linear's lease is held
      FAIL();
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("second pass"), std::string::npos) << e.what();
    }
  }
  { auto norm = model->acquire(norm0); }  // the second pass
  try {
    model->acquire(model->unit_index("blocks.1.linear"));
    FAIL();
  } catch (const ArgumentError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unit blocks.1.linear acquired out of the recorded execution order"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("expected blocks.0.linear"), std::string::npos) << what;
  }
  { auto linear = model->acquire(linear0); }
  model->offload();
}

TEST_P(ManagerOnDevice, DiskModeRunsUnderAHostMemoryCapSmallerThanTheModel) {
  auto acc = accelerator();
  ManagerOptions options;
  options.vram_limit = 0;
  options.disk_buffers = 2;
  options.disk_threads = 2;
  VramManager manager(acc, options);
  auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), bf16("disk"));
  std::uint64_t model_total = 0, largest = 0;
  for (const auto& u : model->units()) {
    model_total += u.stream.bytes;
    largest = std::max(largest, u.disk.buffer_bytes);  // a unit's aligned reads
  }
  acc->pinned_allocator()->set_cap(2 * largest);  // room for the two read-ahead buffers, not for the model
  ASSERT_LT(2 * largest, model_total / 2);
  model->onload();
  const auto out = model_.forward(*model);
  model->offload();
  EXPECT_EQ(out, run({"basic", VramConfig::preset("none"), std::nullopt}, 1).outputs[0]);
  EXPECT_LE(acc->pinned_allocator()->peak_bytes(), 2 * largest);
}

// The trace of a disk-streamed run: per forward, every unit is read from disk, copied, then computed, in that
// order in time, on the compute, copy and disk-reader tracks; and tracing changes no output bit.
TEST_P(ManagerOnDevice, TraceOrdersReadCopyAndCompute) {
  ManagerOptions options;
  options.trace = true;
  auto acc = accelerator();
  options.vram_limit = 0;
  VramManager manager(acc, options);
  auto model = manager.add_model("synthetic", files_, leaf_module_units(*files_), bf16("disk"));
  model->onload();
  const auto out = model_.forward(*model);
  model->offload();
  EXPECT_EQ(out, run({"basic", VramConfig::preset("none"), std::nullopt}, 1).outputs[0]);

  const auto path = dir_ / "trace.json";
  manager.trace()->write(path);
  const auto json = nlohmann::json::parse(std::ifstream(path));
  std::map<int, std::string> tracks;
  std::map<std::string, double> read_end, copy_start, copy_end, compute_start;
  for (const auto& e : json.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") tracks[e.at("tid")] = e.at("args").at("name");
    if (e.at("ph") != "X") continue;
    const std::string track = tracks.at(e.at("tid"));
    std::string name = e.at("name");
    const double start = e.at("ts"), end = start + e.at("dur").get<double>();
    if (track.starts_with("disk reader") && name.starts_with("read ") && !read_end.count(name.substr(5)))
      read_end[name.substr(5)] = end;
    if (track == "copy h2d" && !copy_end.count(name)) copy_start[name] = start, copy_end[name] = end;
    if (track == "compute" && !name.starts_with("wait ") && !compute_start.count(name))
      compute_start[name] = start;
  }
  ASSERT_EQ(compute_start.size(), model->units().size());
  for (const auto& [name, start] : compute_start) {
    ASSERT_TRUE(read_end.count(name) && copy_end.count(name)) << name;
    EXPECT_LE(read_end[name], copy_end[name]) << name;
    EXPECT_LE(copy_end[name], start) << name;
  }
}

TEST_P(ManagerOnDevice, OnloadOffloadCyclesLeakNothing) {
  auto acc = accelerator();
  ManagerOptions options;
  options.vram_limit = model_bytes(VramConfig::preset("dynamic")) / 2;
  VramManager manager(acc, options);
  auto dynamic =
      manager.add_model("dynamic", files_, leaf_module_units(*files_), VramConfig::preset("dynamic"));
  auto disk = manager.add_model("disk", files_, leaf_module_units(*files_), bf16("disk"));
  std::size_t pinned_after_first = 0;
  for (int cycle = 0; cycle < 5; ++cycle) {
    for (ManagedModel* m : {dynamic.get(), disk.get()}) {
      m->onload();
      model_.forward(*m);
      m->offload();
    }
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u);
    // The dynamic model keeps its fp8 host copies while offloaded (offload_device cpu); nothing else stays.
    if (cycle == 0) pinned_after_first = acc->pinned_allocator()->allocated_bytes();
    EXPECT_EQ(acc->pinned_allocator()->allocated_bytes(), pinned_after_first);
  }
  EXPECT_GT(pinned_after_first, 0u);
  dynamic.reset();
  disk.reset();
  EXPECT_EQ(acc->pinned_allocator()->allocated_bytes(), 0u);
}

// An onload that fails midway (the device or the pinned pool full) gives back what it took: no device or
// pinned bytes stay held, and the model onloads once there is room, with the same output.
TEST_P(ManagerOnDevice, AFailedOnloadGivesBackWhatItTook) {
  const auto expected = run({"basic", VramConfig::preset("none"), std::nullopt}, 1).outputs[0];
  auto acc = accelerator();
  // Onloading `model` with `pool` capped at `cap` fails and holds nothing; with the cap back it runs.
  const auto fails_then_runs = [&](VramManager& manager, ManagedModel& model, Allocator& pool,
                                   std::size_t cap) {
    const std::size_t before = pool.cap_bytes();
    pool.set_cap(cap);
    EXPECT_THROW(model.onload(), OutOfMemory);
    EXPECT_FALSE(model.onloaded());
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u);
    EXPECT_EQ(acc->pinned_allocator()->allocated_bytes(), 0u);
    const TelemetrySnapshot held = manager.snapshot();
    EXPECT_EQ(held.resident_bytes + held.staging_bytes, 0u);
    pool.set_cap(before);
    model.onload();
    EXPECT_EQ(model_.forward(model), expected);
    model.offload();
    EXPECT_EQ(acc->device_allocator()->allocated_bytes(), 0u);
  };
  // No limit, so every unit is resident, on a device with room for half of them.
  VramManager resident(acc, {});
  auto model = resident.add_model("synthetic", files_, leaf_module_units(*files_), bf16("disk"));
  fails_then_runs(resident, *model, *acc->device_allocator(), model_bytes(bf16("disk")) / 2);
  // Streamed from disk with no pinned memory for the read buffers: the streaming start fails after the
  // staging ring was taken on the device.
  ManagerOptions streamed;
  streamed.vram_limit = 0;
  VramManager from_disk(acc, streamed);
  auto disk = from_disk.add_model("disk", files_, leaf_module_units(*files_), bf16("disk"));
  fails_then_runs(from_disk, *disk, *acc->pinned_allocator(), 0);
}

TEST_P(ManagerOnDevice, MisuseIsAClearError) {
  auto acc = accelerator();
  ManagerOptions options;
  options.vram_limit = 0;
  VramManager manager(acc, options);
  auto model = manager.add_model("m", files_, leaf_module_units(*files_), bf16("dynamic"));
  EXPECT_THROW(model->acquire(0), ArgumentError);  // before onload
  model->onload();
  try {
    model->acquire(model->unit_index("blocks.1.linear"));
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("expected blocks.0.linear"), std::string::npos) << e.what();
  }
  {
    auto a = model->acquire(model->unit_index("blocks.0.linear"));
    auto b = model->acquire(model->unit_index("blocks.0.norm"));
    EXPECT_THROW(model->acquire(model->unit_index("blocks.1.linear")),
                 ArgumentError);                    // a third lease, 2 slots
    EXPECT_THROW(model->offload(), ArgumentError);  // leases still held
    EXPECT_THROW(b.get("blocks.0.linear.weight"), ArgumentError);
  }
  model->offload();
  EXPECT_THROW(manager.add_model("bad", files_, {{"x", {"blocks.0.missing"}}}, bf16("dynamic")),
               ArgumentError);
  VramConfig cpu_compute;
  cpu_compute.computation_device = Placement{Placement::Kind::cpu, -1};
  EXPECT_THROW(manager.add_model("cpu", files_, leaf_module_units(*files_), cpu_compute), ArgumentError);
}

}  // namespace vramkit::manager_checks
