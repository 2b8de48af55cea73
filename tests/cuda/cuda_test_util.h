// Shared by the CUDA tests: skip cleanly when the machine has no usable GPU.
#pragma once

#include <gtest/gtest.h>

#include "backends/cuda/cuda_device.h"

#define VRAMKIT_REQUIRE_CUDA()                                              \
  do {                                                                      \
    if (::vramkit::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)
