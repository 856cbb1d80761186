// SPDX-License-Identifier: Apache-2.0
// Dynamic activation quantization to codes (OSTQUANT_SPEC.md §7.1, arithmetic of
// kernels/cpu/fake_quant.cpp) and int4 nibble packing.
//
// quantize_acts: one block per row (grid-stride). With a fused Hadamard the row is first rotated
// in shared memory (block_hadamard); otherwise it is read from global memory directly. Then each
// group's range is reduced by one warp when the row has at least as many groups as the block has
// warps, else by the whole block (per token), and the codes are written as uint8.
#include <cfloat>
#include <cmath>
#include <string>

#include "kernels/cuda/lowbit_common.cuh"
#include "kernels/cuda/lowbit_cuda_ops.h"
#include "kernels/cuda/lowbit_hadamard.cuh"

namespace ostq::kernels::cuda_ops {
namespace {

using namespace cuda_detail;

constexpr int kQuantThreads = 256;

// x [m, k] fp32 → codes [m, k] u8, scale/zero [m, k / group]. kFused: x rows are rotated first
// (k = base·pow2) in dynamic shared memory; x itself is never written.
template <bool kFused>
__global__ void __launch_bounds__(kHadMaxThreads)
    quantize_rows_kernel(const float* __restrict__ x, int64_t m, int k, int group, QuantConsts c,
                         int base, int pow2, const int8_t* __restrict__ A, float hscale,
                         uint8_t* __restrict__ codes, float* __restrict__ scale,
                         float* __restrict__ zero) {
  extern __shared__ float srow[];  // kFused: the rotated row [k], then the mix scratch
  __shared__ float red_lo[32], red_hi[32];
  const int groups = k / group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
  for (int64_t row = blockIdx.x; row < m; row += gridDim.x) {
    const float* src = x + row * k;
    if constexpr (kFused) {
      for (int i = threadIdx.x; i < k; i += blockDim.x) srow[i] = src[i];
      __syncthreads();
      block_hadamard(srow, srow + k, k, base, pow2, A, hscale);
      src = srow;
    }
    uint8_t* dst = codes + row * k;
    float* row_scale = scale + row * groups;
    float* row_zero = zero + row * groups;
    if (groups >= nwarps) {
      // One warp per group.
      for (int g = warp; g < groups; g += nwarps) {
        const float* gx = src + static_cast<int64_t>(g) * group;
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int i = lane; i < group; i += 32) {
          lo = fminf(lo, gx[i]);
          hi = fmaxf(hi, gx[i]);
        }
        lo = warp_min(lo);
        hi = warp_max(hi);
        float s, z;
        scale_zero(lo, hi, c, s, z);
        uint8_t* gd = dst + static_cast<int64_t>(g) * group;
        for (int i = lane; i < group; i += 32) gd[i] = quant_code(gx[i], s, z, c);
        if (lane == 0) {
          row_scale[g] = s;
          row_zero[g] = c.symmetric ? c.code_offset : z;
        }
      }
    } else {
      // The whole block per group: warp reductions, then warp 0 reduces the warps' results.
      for (int g = 0; g < groups; ++g) {
        const float* gx = src + static_cast<int64_t>(g) * group;
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int i = threadIdx.x; i < group; i += blockDim.x) {
          lo = fminf(lo, gx[i]);
          hi = fmaxf(hi, gx[i]);
        }
        lo = warp_min(lo);
        hi = warp_max(hi);
        if (lane == 0) {
          red_lo[warp] = lo;
          red_hi[warp] = hi;
        }
        __syncthreads();
        if (warp == 0) {
          lo = lane < nwarps ? red_lo[lane] : FLT_MAX;
          hi = lane < nwarps ? red_hi[lane] : -FLT_MAX;
          lo = warp_min(lo);
          hi = warp_max(hi);
          if (lane == 0) {
            red_lo[0] = lo;
            red_hi[0] = hi;
          }
        }
        __syncthreads();
        float s, z;
        scale_zero(red_lo[0], red_hi[0], c, s, z);
        uint8_t* gd = dst + static_cast<int64_t>(g) * group;
        for (int i = threadIdx.x; i < group; i += blockDim.x) gd[i] = quant_code(gx[i], s, z, c);
        if (threadIdx.x == 0) {
          row_scale[g] = s;
          row_zero[g] = c.symmetric ? c.code_offset : z;
        }
        __syncthreads();  // red_lo/red_hi are rewritten by the next group
      }
    }
    __syncthreads();  // srow is refilled by the next row
  }
}

// packed[j] = codes[2j] | codes[2j+1] << 4 (codes masked to 4 bits).
__global__ void pack_int4_kernel(const uint8_t* __restrict__ codes, int64_t pairs,
                                 uint8_t* __restrict__ packed) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < pairs;
       j += int64_t{gridDim.x} * blockDim.x)
    packed[j] = static_cast<uint8_t>((codes[2 * j] & 0xF) | ((codes[2 * j + 1] & 0xF) << 4));
}

__global__ void unpack_int4_kernel(const uint8_t* __restrict__ packed, int64_t pairs,
                                   uint8_t* __restrict__ codes) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < pairs;
       j += int64_t{gridDim.x} * blockDim.x) {
    const uint8_t b = packed[j];
    codes[2 * j] = b & 0xF;
    codes[2 * j + 1] = b >> 4;
  }
}

}  // namespace

void quantize_acts(const float* x, int64_t m, int64_t k, const FakeQuantParams& p,
                   const HadamardSpec* fused, QuantizedActs out) {
  const char* op = "quantize_acts";
  require(p.bits >= 2 && p.bits <= 8, "quantize_acts: bits must be in [2, 8]");
  require(m >= 0 && k > 0, "quantize_acts: bad shape");
  require(k <= INT32_MAX / 2, "quantize_acts: k too large");
  const int64_t group = p.group > 0 ? p.group : k;
  require(k % group == 0, "quantize_acts: group " + std::to_string(group) + " does not divide k " +
                              std::to_string(k));
  if (m == 0) return;
  require(x && out.codes && out.scale && out.zero, "quantize_acts: null pointer");
  QuantConsts c;
  c.symmetric = p.symmetric;
  c.absmax = p.absmax_scale;
  c.clip = p.clip_ratio;
  c.qmax = p.symmetric ? std::ldexp(1.0f, p.bits - 1) - 1.0f : std::ldexp(1.0f, p.bits) - 1.0f;
  c.qmin = p.symmetric ? -std::ldexp(1.0f, p.bits - 1) : 0.0f;
  c.code_offset = p.symmetric ? std::ldexp(1.0f, p.bits - 1) : 0.0f;
  const unsigned grid = grid_for(m, 1);
  if (fused != nullptr) {
    check_hadamard_spec(*fused);
    require(fused->n() == k, "quantize_acts: fused Hadamard length " + std::to_string(fused->n()) +
                                 " != k " + std::to_string(k));
    const size_t smem = hadamard_smem_bytes(k, fused->base);
    allow_dynamic_smem(quantize_rows_kernel<true>, smem, op);
    quantize_rows_kernel<true><<<grid, hadamard_threads(k), smem>>>(
        x, m, static_cast<int>(k), static_cast<int>(group), c, static_cast<int>(fused->base),
        static_cast<int>(fused->pow2), fused->base_matrix, fused->scale, out.codes, out.scale,
        out.zero);
  } else {
    quantize_rows_kernel<false>
        <<<grid, kQuantThreads, 0>>>(x, m, static_cast<int>(k), static_cast<int>(group), c, 1, 1,
                                     nullptr, 1.0f, out.codes, out.scale, out.zero);
  }
  finish_op(op);
}

void pack_int4(const uint8_t* codes, int64_t count, uint8_t* packed) {
  require(count >= 0 && count % 2 == 0, "pack_int4: count must be even");
  if (count == 0) return;
  require(codes && packed, "pack_int4: null pointer");
  pack_int4_kernel<<<grid_for(count / 2, 256), 256>>>(codes, count / 2, packed);
  finish_op("pack_int4");
}

void unpack_int4(const uint8_t* packed, int64_t count, uint8_t* codes) {
  require(count >= 0 && count % 2 == 0, "unpack_int4: count must be even");
  if (count == 0) return;
  require(codes && packed, "unpack_int4: null pointer");
  unpack_int4_kernel<<<grid_for(count / 2, 256), 256>>>(packed, count / 2, codes);
  finish_op("unpack_int4");
}

}  // namespace ostq::kernels::cuda_ops
