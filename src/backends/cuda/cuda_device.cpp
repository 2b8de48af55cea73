#include "backends/cuda/cuda_device.h"

#include <utility>

#include "backends/cuda/cuda_check.h"

namespace vramkit::cuda {

int device_count() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" status
    return 0;
  }
  return n;
}

DeviceInfo device_info(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    throw ArgumentError("CUDA device " + std::to_string(index) + " does not exist (" + std::to_string(n) +
                        " device(s) found)");
  cudaDeviceProp prop{};
  VRAMKIT_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  int previous = 0;
  VRAMKIT_CUDA_CHECK(cudaGetDevice(&previous));
  VRAMKIT_CUDA_CHECK(cudaSetDevice(index));
  const cudaError_t status = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
  VRAMKIT_CUDA_CHECK(cudaSetDevice(previous));
  VRAMKIT_CUDA_CHECK(status);
  return info;
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t status = cudaMalloc(&data_, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory("cuda", bytes, "cudaMalloc");
  }
  VRAMKIT_CUDA_CHECK(status);
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::copy_from_host(const void* src, std::size_t bytes) {
  if (bytes > bytes_) throw ArgumentError("DeviceBuffer::copy_from_host: " + std::to_string(bytes) + " bytes into a buffer of " + std::to_string(bytes_));
  VRAMKIT_CUDA_CHECK(cudaMemcpy(data_, src, bytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::copy_to_host(void* dst, std::size_t bytes) const {
  if (bytes > bytes_) throw ArgumentError("DeviceBuffer::copy_to_host: " + std::to_string(bytes) + " bytes from a buffer of " + std::to_string(bytes_));
  VRAMKIT_CUDA_CHECK(cudaMemcpy(dst, data_, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace vramkit::cuda
