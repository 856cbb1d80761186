// SPDX-License-Identifier: Apache-2.0
// The "cuda" LowBitOps table (kernels/cuda/lowbit_cuda.h) and its one-time device probe.
#include "kernels/cuda/lowbit_cuda.h"

#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_runtime_info.h"
#include "kernels/cuda/lowbit_cuda_ops.h"

namespace ostq::kernels {
namespace {

__global__ void probe_kernel(int* out) { *out = 1; }

// Whether the current device can run the table: a device exists, it is sm_80 or newer (the int8
// mma.sync of lowbit_int_gemm.cu), and this binary's code actually launches on it.
struct Probe {
  bool ok = false;
  std::string why;
};

Probe probe_device() {
  Probe p;
  std::string reason;
  if (cuda_runtime_device_count(&reason) <= 0) {
    p.why = "no usable CUDA device (" + (reason.empty() ? std::string("none found") : reason) + ")";
    return p;
  }
  int dev = 0;
  cudaDeviceProp prop{};
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaGetDeviceProperties(&prop, dev);
  if (err != cudaSuccess) {
    cudaGetLastError();
    p.why = std::string("CUDA device query failed: ") + cudaGetErrorString(err);
    return p;
  }
  if (prop.major < 8) {
    p.why = std::string(prop.name) + " has compute capability " + std::to_string(prop.major) + "." +
            std::to_string(prop.minor) + "; the CUDA low-bit kernels need 8.0 or newer";
    return p;
  }
  int* flag = nullptr;
  int host = 0;
  err = cudaMalloc(&flag, sizeof(int));
  if (err == cudaSuccess) {
    probe_kernel<<<1, 1>>>(flag);
    err = cudaGetLastError();
    if (err == cudaSuccess) err = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(flag);
  }
  if (err != cudaSuccess || host != 1) {
    cudaGetLastError();
    p.why = std::string("CUDA test launch on ") + prop.name +
            " failed: " + (err != cudaSuccess ? cudaGetErrorString(err) : "wrong result");
    return p;
  }
  p.ok = true;
  return p;
}

const LowBitOps kCudaOps = {
    "cuda",
    MemorySpace::kCuda,
    &cuda_ops::hadamard_rows,
    &cuda_ops::hadamard_rows_bf16,
    &cuda_ops::quantize_acts,
    &cuda_ops::pack_int4,
    &cuda_ops::unpack_int4,
    &cuda_ops::weight_only_gemm,
    &cuda_ops::int_gemm,
};

}  // namespace

const LowBitOps* cuda_lowbit_ops(std::string* why) {
  static const Probe probe = probe_device();
  if (!probe.ok) {
    if (why != nullptr) *why = probe.why;
    return nullptr;
  }
  return &kCudaOps;
}

}  // namespace ostq::kernels
