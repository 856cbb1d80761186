// SPDX-License-Identifier: Apache-2.0
// Block-level Hadamard transform of one row held in shared memory, shared by the Hadamard kernels
// (lowbit_hadamard.cu) and the fused quantizer (lowbit_quantize.cu). Convention of
// kernels/cpu/fwht.h: a row of n = base·pow2 floats viewed as Z [base, pow2] becomes
// Y = Aᵀ·(Z·H_pow2)·scale, with H_pow2 the natural-order Sylvester matrix and A ±1 int8 [base,
// base].
#pragma once

#include <cstdint>

namespace ostq::kernels::cuda_detail {

// A row is transformed by one block of at most kHadMaxThreads threads. The base mix writes
// through a scratch area of kHadMixScratch floats after the row in shared memory, so the dynamic
// shared memory of a row is hadamard_smem_bytes(n, base) ≤ 144 KiB (A100 allows 163 KiB).
constexpr int kHadMaxThreads = 1024;
constexpr int kHadMixScratch = 4096;
constexpr int64_t kHadMaxN = 32768;  // 28672 needed

// Threads per block for a row of n: about 8 elements per thread, 64…1024, a multiple of 32.
inline int hadamard_threads(int64_t n) {
  int64_t t = ((n / 8 + 31) / 32) * 32;
  if (t < 64) t = 64;
  if (t > kHadMaxThreads) t = kHadMaxThreads;
  return static_cast<int>(t);
}

// Dynamic shared memory of block_hadamard: the row, plus the mix scratch when base > 1.
inline size_t hadamard_smem_bytes(int64_t n, int64_t base) {
  return static_cast<size_t>(n + (base > 1 ? kHadMixScratch : 0)) * sizeof(float);
}

// s [n] in shared memory ← s·(A ⊗ H_pow2)·scale, in place; scratch: kHadMixScratch floats of
// shared memory (unused when base = 1). All threads of the block must call it; the caller
// synchronises after filling s; returns after a final __syncthreads().
// Butterflies are the plain radix-2 ones of kernels/cpu/fwht.cpp (same sums, same order), so the
// FWHT part is bit-identical to the CPU; the mix sums k = 0…base−1 in order and then scales.
__device__ inline void block_hadamard(float* s, float* scratch, int n, int base, int pow2,
                                      const int8_t* __restrict__ A, float scale) {
  // FWHT over every base segment at once: pair t → i = (t / h)·2h + t % h and i + h. pow2 is a
  // multiple of 2h, so a pair never straddles two segments.
  const int half = n / 2;
  for (int h = 1; h < pow2; h <<= 1) {
    for (int t = threadIdx.x; t < half; t += blockDim.x) {
      const int i = (t / h) * 2 * h + (t % h);
      const float a = s[i], b = s[i + h];
      s[i] = a + b;
      s[i + h] = a - b;
    }
    __syncthreads();
  }
  if (base == 1) {
    if (scale != 1.0f) {
      for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = __fmul_rn(s[i], scale);
      __syncthreads();
    }
    return;
  }
  // y[kp, j] = scale·Σ_k A[k, kp]·z[k, j]: every output reads a whole column of z, so columns go
  // in batches of `cols` (base·cols ≤ kHadMixScratch): outputs to scratch [base, cols], then back.
  const int cols = min(pow2, kHadMixScratch / base);
  for (int j0 = 0; j0 < pow2; j0 += cols) {
    const int width = min(cols, pow2 - j0);
    const int count = base * width;
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
      const int kp = e / width, j = j0 + (e - kp * width);
      float acc = 0.0f;
      for (int k = 0; k < base; ++k)
        acc += static_cast<float>(__ldg(A + k * base + kp)) * s[k * pow2 + j];
      scratch[e] = __fmul_rn(acc, scale);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
      const int kp = e / width, j = j0 + (e - kp * width);
      s[kp * pow2 + j] = scratch[e];
    }
    __syncthreads();
  }
}

}  // namespace ostq::kernels::cuda_detail
