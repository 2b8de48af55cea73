// Behaviour every Accelerator must show, whatever backs it (the emulated device in CI, CUDA on a GPU machine).
// Device memory is only touched through streams, so the same checks run where the host cannot read it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "backends/accelerator.h"
#include "core/convert.h"
#include "vram/fp8_scaling.h"
#include "vramkit/error.h"

namespace vramkit::conformance {

// Host -> device copy on one stream, conversion on another after an event, device -> host on the compute
// stream after a second event; repeated so that a missing dependency shows up as a stale value.
inline void copies_and_conversions_follow_events(Accelerator& acc) {
  auto h2d = acc.create_stream("h2d");
  auto side = acc.create_stream("side");
  auto copied = acc.create_event();
  auto converted = acc.create_event();
  auto& compute = acc.compute_stream();
  const std::size_t n = 1 << 18;
  auto& pinned = *acc.pinned_allocator();
  auto* host_in = static_cast<float*>(pinned.allocate(n * sizeof(float)));
  auto* host_out = static_cast<std::uint16_t*>(pinned.allocate(n * sizeof(std::uint16_t)));
  std::iota(host_in, host_in + n, 0.0f);
  auto& dev = *acc.device_allocator();
  void* dev_f32 = dev.allocate(n * sizeof(float));
  void* dev_bf16 = dev.allocate(n * sizeof(std::uint16_t));
  for (int round = 0; round < 10; ++round) {
    host_in[0] = static_cast<float>(round);
    h2d->copy(dev_f32, host_in, n * sizeof(float));
    h2d->record(*copied);
    side->wait(*copied);
    side->convert(dev_f32, DType::f32, dev_bf16, DType::bf16, n);
    side->record(*converted);
    compute.wait(*converted);
    compute.copy(host_out, dev_bf16, n * sizeof(std::uint16_t));
    compute.synchronize();
    ASSERT_EQ(bf16_to_f32(host_out[0]), static_cast<float>(round)) << "round " << round;
    ASSERT_EQ(bf16_to_f32(host_out[100]), 100.0f);
    ASSERT_EQ(host_out[n - 1], f32_to_bf16(static_cast<float>(n - 1)));
    // The copy stream must be done with host_in before the host writes it again.
    h2d->synchronize();
  }
  EXPECT_TRUE(converted->ready());
  dev.deallocate(dev_f32, n * sizeof(float));
  dev.deallocate(dev_bf16, n * sizeof(std::uint16_t));
  pinned.deallocate(host_in, n * sizeof(float));
  pinned.deallocate(host_out, n * sizeof(std::uint16_t));
}

// Host functions run in stream order: after the copy enqueued before them, before the work enqueued after.
inline void host_functions_run_in_stream_order(Accelerator& acc) {
  auto h2d = acc.create_stream("h2d");
  auto& pinned = *acc.pinned_allocator();
  const std::size_t n = 1 << 16;
  auto* host = static_cast<float*>(pinned.allocate(n * sizeof(float)));
  std::fill(host, host + n, 7.0f);
  void* dev = acc.device_allocator()->allocate(n * sizeof(float));
  std::vector<int> order;  // written by the stream's host thread only, read after synchronize()
  h2d->copy(dev, host, n * sizeof(float));
  h2d->host_function([&] { order.push_back(1); });
  h2d->host_function([&] { order.push_back(2); });
  h2d->synchronize();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  bool ran = false;
  acc.compute_stream().host_function([&] { ran = true; });
  acc.compute_stream().synchronize();
  EXPECT_TRUE(ran);
  acc.device_allocator()->deallocate(dev, n * sizeof(float));
  pinned.deallocate(host, n * sizeof(float));
}

// Per-channel fp8 weights dequantized on the device equal the host dequantization bit for bit.
inline void dequantize_matches_the_host(Accelerator& acc) {
  const std::size_t rows = 37, cols = 301, n = rows * cols;
  std::vector<float> weights(n);
  for (std::size_t i = 0; i < n; ++i) weights[i] = std::sin(static_cast<float>(i)) * static_cast<float>(1 + i % rows);
  std::vector<std::uint8_t> q(n);
  std::vector<float> scales(rows);
  quantize_fp8_rows(weights.data(), DType::f32, rows, cols, q.data(), DType::f8_e4m3fn, Fp8Scaling::per_channel,
                    scales.data());
  std::vector<std::uint16_t> want(n), got(n);
  dequantize_rows(q.data(), DType::f8_e4m3fn, rows, cols, want.data(), DType::bf16, scales.data());
  auto& dev = *acc.device_allocator();
  void* dq = dev.allocate(n);
  void* ds = dev.allocate(rows * sizeof(float));
  void* dout = dev.allocate(n * 2);
  auto& compute = acc.compute_stream();
  compute.copy(dq, q.data(), n);
  compute.copy(ds, scales.data(), rows * sizeof(float));
  compute.dequantize(dq, DType::f8_e4m3fn, dout, DType::bf16, rows, cols, static_cast<const float*>(ds));
  compute.copy(got.data(), dout, n * 2);
  compute.synchronize();
  EXPECT_EQ(got, want);
  dev.deallocate(dq, n);
  dev.deallocate(ds, rows * sizeof(float));
  dev.deallocate(dout, n * 2);
}

// The device arena refuses above its capacity with OutOfMemory naming the device, and returns to zero.
inline void device_memory_is_capped_and_accounted(Accelerator& acc, std::size_t capacity) {
  auto& dev = *acc.device_allocator();
  const std::size_t before = dev.allocated_bytes();
  void* p = dev.allocate(capacity / 2);
  EXPECT_EQ(dev.allocated_bytes(), before + capacity / 2);
  try {
    dev.allocate(capacity);
    ADD_FAILURE() << "allocation above the capacity succeeded";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find(acc.device().str()), std::string::npos) << e.what();
  }
  // memory_info() describes the arena: its range, what live blocks leave, what is backed (at least the
  // high-water mark, on demand).
  const MemoryInfo held = acc.memory_info();
  EXPECT_EQ(held.total_bytes, capacity);
  EXPECT_LE(held.free_bytes, capacity - capacity / 2);
  EXPECT_GE(held.committed_bytes, capacity / 2);
  EXPECT_LE(held.committed_bytes, capacity);
  dev.deallocate(p, capacity / 2);
  EXPECT_EQ(dev.allocated_bytes(), before);
  EXPECT_EQ(acc.memory_info().free_bytes, held.free_bytes + capacity / 2);
}

}  // namespace vramkit::conformance
