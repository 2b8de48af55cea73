#include "vramkit/error.h"

namespace vramkit {

OutOfMemory::OutOfMemory(std::string device, std::size_t bytes, const std::string& detail)
    : Error("out of memory on " + device + ": could not allocate " + std::to_string(bytes) + " bytes" +
            (detail.empty() ? "" : " (" + detail + ")")),
      device_(std::move(device)),
      bytes_(bytes) {}

OutOfMemory::OutOfMemory(const OutOfMemory& cause, const std::string& context, const std::string& hint)
    : Error(context + ": " + cause.what() + (hint.empty() ? "" : "; " + hint)),
      device_(cause.device_),
      bytes_(cause.bytes_) {}

CudaError::CudaError(int code, const std::string& what, const char* file, int line)
    : Error("CUDA error " + std::to_string(code) + ": " + what + " at " + file + ":" + std::to_string(line)),
      code_(code) {}

}  // namespace vramkit
