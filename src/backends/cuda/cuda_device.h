// CUDA device discovery and a minimal RAII device buffer. A machine without a GPU or driver is a normal case:
// device_count() returns 0 there instead of throwing.
#pragma once

#include <cstddef>
#include <string>

namespace vramkit::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  std::size_t total_bytes = 0;
  std::size_t free_bytes = 0;
};

// Number of usable CUDA devices; 0 when there is no device or no driver.
int device_count();
// Properties and current free memory of device `index`; throws CudaError / ArgumentError.
DeviceInfo device_info(int index);

// Device memory owned by one object (cudaMalloc / cudaFree) on the current device.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  void copy_from_host(const void* src, std::size_t bytes);
  void copy_to_host(void* dst, std::size_t bytes) const;

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace vramkit::cuda
