// SPDX-License-Identifier: Apache-2.0
// Shared by the kernels/cuda/lowbit_*.cu translation units: CUDA error checks that become C++
// exceptions, the end-of-op synchronisation, and small device helpers (warp reductions, the
// fake-quant range → scale/zero step of OSTQUANT_SPEC.md §7.1).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ostq::kernels::cuda_detail {

// Throws std::runtime_error("<what>: <CUDA error text>") when err is not cudaSuccess.
inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so the next op starts clean
    throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(err));
  }
}

// After a launch: configuration errors (cudaGetLastError), then every asynchronous fault of the
// op (cudaDeviceSynchronize), both reported with the op's name. Ops synchronise on purpose:
// correctness and clear errors first; the legacy default stream orders them with other work.
inline void finish_op(const char* op) {
  check(cudaGetLastError(), op);
  check(cudaDeviceSynchronize(), op);
}

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("lowbit cuda: " + what);
}

// Blocks for a grid-stride loop over `count` items with `threads` per block, capped so that the
// grid stays small (each block then loops).
inline unsigned grid_for(int64_t count, int threads, int64_t cap = 65535) {
  int64_t blocks = (count + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks);
}

constexpr float kRangeFloor = 1e-6f;  // kernels/cpu/fake_quant.cpp

__device__ __forceinline__ float warp_min(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Fake-quant constants of one parameter set (qmin/qmax in code space q, before the unsigned shift).
struct QuantConsts {
  float qmin, qmax;
  float clip;
  float code_offset;  // 2^{b−1} for symmetric (u = q + 2^{b−1}), 0 for asymmetric
  bool symmetric, absmax;
};

// Range [lo, hi] of a group → (s, z) exactly as fake_quant_group: ranges widened to contain 0,
// floor 1e-6, times clip; the _rn intrinsics forbid FMA contraction so every step is one IEEE op.
__device__ __forceinline__ void scale_zero(float lo, float hi, const QuantConsts& c, float& s,
                                           float& z) {
  const float xmin = __fmul_rn(fminf(lo, 0.0f), c.clip);
  const float xmax = __fmul_rn(fmaxf(hi, kRangeFloor), c.clip);
  z = 0.0f;
  if (c.symmetric) {
    s = c.absmax ? __fdiv_rn(fmaxf(-xmin, xmax), c.qmax)
                 : fmaxf(__fdiv_rn(xmin, c.qmin), __fdiv_rn(xmax, c.qmax));
  } else {
    s = __fdiv_rn(fmaxf(__fsub_rn(xmax, xmin), kRangeFloor), c.qmax);
    z = rintf(__fdiv_rn(-xmin, s));
  }
}

// One element → unsigned code u = clamp(round(x/s) + z, qmin, qmax) + offset (round half to even).
__device__ __forceinline__ uint8_t quant_code(float x, float s, float z, const QuantConsts& c) {
  float q = __fadd_rn(rintf(__fdiv_rn(x, s)), z);
  q = fminf(fmaxf(q, c.qmin), c.qmax);
  return static_cast<uint8_t>(static_cast<int>(__fadd_rn(q, c.code_offset)));
}

}  // namespace ostq::kernels::cuda_detail

namespace ostq::kernels::cuda_detail {

// Opts `kernel` in to `bytes` of dynamic shared memory when above the 48 KiB default, after
// checking the device's opt-in limit (227 KiB on H100/H200, 163 KiB on A100).
template <typename Kernel>
void allow_dynamic_smem(Kernel kernel, size_t bytes, const char* op) {
  if (bytes <= 48 * 1024) return;
  int dev = 0, optin = 0;
  check(cudaGetDevice(&dev), op);
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), op);
  require(bytes <= static_cast<size_t>(optin),
          std::string(op) + ": needs " + std::to_string(bytes) +
              " bytes of shared memory per block, the device allows " + std::to_string(optin));
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(bytes)),
        op);
}

}  // namespace ostq::kernels::cuda_detail
