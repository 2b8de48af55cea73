// vramkit's typed exceptions. The library never calls exit() or abort(): every failure is one of these, carrying
// the file, tensor, key or argument at fault in its message; the CLI maps them to messages and exit codes.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace vramkit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file whose bytes do not follow its format (safetensors header, JSON, PNG...).
class FormatError : public Error {
 public:
  using Error::Error;
};

// Tensors whose shapes, ranks or strides do not fit an operation.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A dtype that an operation, file or conversion does not support.
class DTypeError : public Error {
 public:
  using Error::Error;
};

// A bad argument from the user: an unknown device string, an option out of range, a missing key.
class ArgumentError : public Error {
 public:
  using Error::Error;
};

// An operating-system call that failed (open, read, mmap); the message carries the path and strerror.
class IoError : public Error {
 public:
  using Error::Error;
};

// An allocation refused: by the OS, or by an allocator's hard cap (the VRAM budget).
class OutOfMemory : public Error {
 public:
  OutOfMemory(std::string device, std::size_t bytes, const std::string& detail);
  // `cause` seen from a caller: "<context>: <cause's message>; <hint>" (no hint: no "; ..."), same device
  // and bytes.
  OutOfMemory(const OutOfMemory& cause, const std::string& context, const std::string& hint);
  const std::string& device() const { return device_; }
  std::size_t bytes() const { return bytes_; }

 private:
  std::string device_;
  std::size_t bytes_;
};

// A CUDA runtime or library call that returned an error, with the call site.
class CudaError : public Error {
 public:
  CudaError(int code, const std::string& what, const char* file, int line);
  int code() const { return code_; }

 private:
  int code_;
};

}  // namespace vramkit
