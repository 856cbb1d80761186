// SPDX-License-Identifier: Apache-2.0
// Device access to the canonical LowBitWeights layout (kernels/lowbit.h) and the host-side shape
// checks shared by the weight-only and the integer GEMM (lowbit_wo_gemm.cu, lowbit_int_gemm.cu).
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "kernels/cuda/lowbit_common.cuh"
#include "kernels/lowbit.h"

namespace ostq::kernels::cuda_detail {

// Unsigned code of column kk in one weight row: bits 4 → nibble (kk & 1) of byte kk / 2 (even
// columns in the low nibble), bits 8 → byte kk.
template <int kBits>
__device__ __forceinline__ int weight_code(const uint8_t* __restrict__ wrow, int64_t kk) {
  if constexpr (kBits == 4)
    return (__ldg(wrow + (kk >> 1)) >> ((kk & 1) * 4)) & 0xF;
  else
    return __ldg(wrow + kk);
}

// Bytes per weight row.
inline int64_t weight_row_bytes(const LowBitWeights& w) { return w.bits == 4 ? w.k / 2 : w.k; }

// Throws std::invalid_argument unless w is a well-formed canonical layout (device pointers are not
// dereferenced) with n, k small enough for 32-bit column indices.
inline void check_weights(const LowBitWeights& w, const char* op) {
  const std::string o(op);
  require(w.bits == 4 || w.bits == 8, o + ": weight bits must be 4 or 8");
  require(w.n > 0 && w.k > 0 && w.n <= INT_MAX && w.k <= INT_MAX / 2, o + ": bad weight shape");
  require(w.group > 0 && w.k % w.group == 0, o + ": weight group " + std::to_string(w.group) +
                                                 " does not divide k " + std::to_string(w.k));
  require(w.bits == 8 || w.k % 2 == 0, o + ": 4-bit weights need an even k");
  require(w.data && w.scale && w.zero, o + ": null weight pointer");
}

inline bool aligned_to(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

}  // namespace ostq::kernels::cuda_detail
