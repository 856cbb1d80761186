// SPDX-License-Identifier: Apache-2.0
// Definitions of kernels/cuda/device_buffer.h.
#include "kernels/cuda/device_buffer.h"

#include <cuda_runtime.h>

#include "kernels/cuda/lowbit_common.cuh"

namespace ostq::kernels::cuda {

using cuda_detail::check;

void* device_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  return p;
}

void device_free(void* ptr) noexcept {
  if (ptr != nullptr) cudaFree(ptr);
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to device");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy to host");
}

void device_memset(void* dst, int value, size_t bytes) {
  if (bytes > 0) check(cudaMemset(dst, value, bytes), "cudaMemset");
}

void device_synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

EventTimer::EventTimer() {
  cudaEvent_t a = nullptr, b = nullptr;
  check(cudaEventCreate(&a), "cudaEventCreate");
  const cudaError_t err = cudaEventCreate(&b);
  if (err != cudaSuccess) cudaEventDestroy(a);
  check(err, "cudaEventCreate");
  start_ = a;
  stop_ = b;
}

EventTimer::~EventTimer() {
  cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void EventTimer::start() {
  check(cudaEventRecord(static_cast<cudaEvent_t>(start_), 0), "cudaEventRecord");
}

float EventTimer::stop() {
  check(cudaEventRecord(static_cast<cudaEvent_t>(stop_), 0), "cudaEventRecord");
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)), "cudaEventSynchronize");
  float ms = 0.0f;
  check(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)),
      "cudaEventElapsedTime");
  return ms;
}

}  // namespace ostq::kernels::cuda
