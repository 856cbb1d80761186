// SPDX-License-Identifier: Apache-2.0
// Small RAII device-memory helpers for tests and benchmarks of the CUDA kernels. Plain C++ (no
// CUDA headers): the functions are defined in device_buffer.cu, so only builds with
// OSTQ_HAVE_CUDA can link them. Every failure throws std::runtime_error with the CUDA error text.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace ostq::kernels::cuda {

void* device_alloc(size_t bytes);      // nullptr for 0 bytes
void device_free(void* ptr) noexcept;  // nullptr is a no-op
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void device_memset(void* dst, int value, size_t bytes);
void device_synchronize();

// A typed device array of `size` elements, move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t size)
      : ptr_(static_cast<T*>(device_alloc(size * sizeof(T)))), size_(size) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { device_free(ptr_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }

  // Copies host.size() elements (≤ size()) to the start of the buffer.
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }
  void upload(const T* host, size_t count) {
    if (count > size_)
      throw std::length_error("DeviceBuffer::upload: more elements than the buffer holds");
    copy_to_device(ptr_, host, count * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    copy_to_host(host.data(), ptr_, size_ * sizeof(T));
    return host;
  }
  void fill_bytes(int value) { device_memset(ptr_, value, size_ * sizeof(T)); }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

// Times device work with CUDA events on the default stream: start(), enqueue, stop() → ms.
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start();
  float stop();  // waits for the stop event; milliseconds since start()

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace ostq::kernels::cuda
