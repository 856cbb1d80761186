// SPDX-License-Identifier: Apache-2.0
// Weight-only GEMM (W4A16 / W8A16): y [m, n] = x [m, k]·dequant(W)ᵀ (+ bias), fp32, with
// w = (u − zero)·scale dequantized on the fly (kernels/lowbit.h).
//
// m ≤ 8 (decode): GEMV, one warp per output channel, M accumulators per lane; lanes stream the
// weight row with 128-bit loads (32 nibbles or 16 bytes), each chunk inside one group, and x with
// float4 loads; a warp sum finishes. Misaligned shapes take a scalar loop over the same mapping.
// m > 8: a 64×64 SIMT tile per block (256 threads, 4×4 outputs each), k in steps of 32: the x tile
// and the dequantized fp32 W tile are staged in shared memory, transposed so that the inner
// product reads rows.
#include <string>

#include "kernels/cuda/lowbit_common.cuh"
#include "kernels/cuda/lowbit_cuda_ops.h"
#include "kernels/cuda/lowbit_weights.cuh"

namespace ostq::kernels::cuda_ops {
namespace {

using namespace cuda_detail;

constexpr int kGemvMaxM = 8;
constexpr int kGemvWarps = 8;  // output channels per block

template <int M, int kBits, bool kVec>
__global__ void __launch_bounds__(kGemvWarps * 32)
    wo_gemv_kernel(const float* __restrict__ x, int n, int k, int group,
                   const uint8_t* __restrict__ data, const float* __restrict__ scale,
                   const float* __restrict__ zero, const float* __restrict__ bias,
                   float* __restrict__ y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col = blockIdx.x * kGemvWarps + warp;  // output channel = weight row
  if (col >= n) return;                            // uniform per warp: no shuffle below is split
  const int groups = k / group;
  const int64_t row_bytes = kBits == 4 ? k / 2 : k;
  const uint8_t* wrow = data + static_cast<int64_t>(col) * row_bytes;
  const float* srow = scale + static_cast<int64_t>(col) * groups;
  const float* zrow = zero + static_cast<int64_t>(col) * groups;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.0f;

  if constexpr (kVec) {
    // One 16-byte chunk = kChunk columns, all in one group (group % kChunk == 0).
    constexpr int kChunk = kBits == 4 ? 32 : 16;
    const int chunks = k / kChunk;
    for (int ch = lane; ch < chunks; ch += 32) {
      const int k0 = ch * kChunk;
      const uint4 raw = __ldg(reinterpret_cast<const uint4*>(wrow) + ch);
      const int g = k0 / group;
      const float s = __ldg(srow + g), z = __ldg(zrow + g);
      const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
      float w[kChunk];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if constexpr (kBits == 4) {
#pragma unroll
          for (int e = 0; e < 8; ++e)
            w[q * 8 + e] = (static_cast<float>((words[q] >> (4 * e)) & 0xFu) - z) * s;
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e)
            w[q * 4 + e] = (static_cast<float>((words[q] >> (8 * e)) & 0xFFu) - z) * s;
        }
      }
#pragma unroll
      for (int i = 0; i < M; ++i) {
        const float4* xv = reinterpret_cast<const float4*>(x + static_cast<int64_t>(i) * k + k0);
#pragma unroll
        for (int v = 0; v < kChunk / 4; ++v) {
          const float4 xx = __ldg(xv + v);
          acc[i] +=
              xx.x * w[4 * v] + xx.y * w[4 * v + 1] + xx.z * w[4 * v + 2] + xx.w * w[4 * v + 3];
        }
      }
    }
  } else {
    for (int kk = lane; kk < k; kk += 32) {
      const int g = kk / group;
      const float w =
          (static_cast<float>(weight_code<kBits>(wrow, kk)) - __ldg(zrow + g)) * __ldg(srow + g);
#pragma unroll
      for (int i = 0; i < M; ++i) acc[i] += __ldg(x + static_cast<int64_t>(i) * k + kk) * w;
    }
  }
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = warp_sum(acc[i]);
  if (lane == 0) {
    const float b = bias != nullptr ? bias[col] : 0.0f;
#pragma unroll
    for (int i = 0; i < M; ++i) y[static_cast<int64_t>(i) * n + col] = acc[i] + b;
  }
}

constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kGemmThreads = 256;

template <int kBits>
__global__ void __launch_bounds__(kGemmThreads)
    wo_gemm_kernel(const float* __restrict__ x, int64_t m, int n, int k, int group,
                   const uint8_t* __restrict__ data, const float* __restrict__ scale,
                   const float* __restrict__ zero, const float* __restrict__ bias,
                   float* __restrict__ y) {
  // +1 padding: the transposing stores (consecutive threads → consecutive kk) hit distinct banks.
  __shared__ float xs[kTileK][kTileM + 1];  // xs[kk][r] = x[m0 + r, k0 + kk]
  __shared__ float ws[kTileK][kTileN + 1];  // ws[kk][c] = w[n0 + c, k0 + kk], dequantized
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int n0 = blockIdx.x * kTileN;
  const int groups = k / group;
  const int64_t row_bytes = kBits == 4 ? k / 2 : k;
  float acc[4][4] = {};

  for (int k0 = 0; k0 < k; k0 += kTileK) {
    for (int e = threadIdx.x; e < kTileM * kTileK; e += kGemmThreads) {
      const int r = e / kTileK, kk = e % kTileK;
      const int64_t gm = m0 + r;
      const int gk = k0 + kk;
      xs[kk][r] = (gm < m && gk < k) ? __ldg(x + gm * k + gk) : 0.0f;
    }
    for (int e = threadIdx.x; e < kTileN * kTileK; e += kGemmThreads) {
      const int c = e / kTileK, kk = e % kTileK;
      const int gn = n0 + c, gk = k0 + kk;
      float w = 0.0f;
      if (gn < n && gk < k) {
        const int64_t gi = static_cast<int64_t>(gn) * groups + gk / group;
        const int u = weight_code<kBits>(data + static_cast<int64_t>(gn) * row_bytes, gk);
        w = (static_cast<float>(u) - __ldg(zero + gi)) * __ldg(scale + gi);
      }
      ws[kk][c] = w;
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = xs[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = ws[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();  // the tiles are refilled next step
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t gm = m0 + ty + 16 * i;
    if (gm >= m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int gn = n0 + tx + 16 * j;
      if (gn < n) y[gm * n + gn] = acc[i][j] + (bias != nullptr ? bias[gn] : 0.0f);
    }
  }
}

template <int M, int kBits>
void launch_gemv(const float* x, const LowBitWeights& w, const float* bias, float* y) {
  constexpr int kChunk = kBits == 4 ? 32 : 16;
  const bool vec =
      w.k % kChunk == 0 && w.group % kChunk == 0 && aligned_to(x, 16) && aligned_to(w.data, 16);
  const unsigned grid = static_cast<unsigned>((w.n + kGemvWarps - 1) / kGemvWarps);
  const int n = static_cast<int>(w.n), k = static_cast<int>(w.k), g = static_cast<int>(w.group);
  if (vec)
    wo_gemv_kernel<M, kBits, true>
        <<<grid, kGemvWarps * 32>>>(x, n, k, g, w.data, w.scale, w.zero, bias, y);
  else
    wo_gemv_kernel<M, kBits, false>
        <<<grid, kGemvWarps * 32>>>(x, n, k, g, w.data, w.scale, w.zero, bias, y);
}

template <int kBits>
void dispatch_gemv(const float* x, int64_t m, const LowBitWeights& w, const float* bias, float* y) {
  switch (m) {
    case 1:
      return launch_gemv<1, kBits>(x, w, bias, y);
    case 2:
      return launch_gemv<2, kBits>(x, w, bias, y);
    case 3:
      return launch_gemv<3, kBits>(x, w, bias, y);
    case 4:
      return launch_gemv<4, kBits>(x, w, bias, y);
    case 5:
      return launch_gemv<5, kBits>(x, w, bias, y);
    case 6:
      return launch_gemv<6, kBits>(x, w, bias, y);
    case 7:
      return launch_gemv<7, kBits>(x, w, bias, y);
    default:
      return launch_gemv<8, kBits>(x, w, bias, y);
  }
}

template <int kBits>
void launch_gemm(const float* x, int64_t m, const LowBitWeights& w, const float* bias, float* y) {
  const dim3 grid(static_cast<unsigned>((w.n + kTileN - 1) / kTileN),
                  static_cast<unsigned>((m + kTileM - 1) / kTileM));
  wo_gemm_kernel<kBits><<<grid, kGemmThreads>>>(x, m, static_cast<int>(w.n), static_cast<int>(w.k),
                                                static_cast<int>(w.group), w.data, w.scale, w.zero,
                                                bias, y);
}

}  // namespace

void weight_only_gemm(const float* x, int64_t m, const LowBitWeights& w, const float* bias,
                      float* y) {
  check_weights(w, "weight_only_gemm");
  require(m >= 0 && m <= int64_t{65535} * kTileM, "weight_only_gemm: bad m");
  if (m == 0) return;
  require(x != nullptr && y != nullptr, "weight_only_gemm: null x or y");
  if (m <= kGemvMaxM) {
    if (w.bits == 4)
      dispatch_gemv<4>(x, m, w, bias, y);
    else
      dispatch_gemv<8>(x, m, w, bias, y);
  } else {
    if (w.bits == 4)
      launch_gemm<4>(x, m, w, bias, y);
    else
      launch_gemm<8>(x, m, w, bias, y);
  }
  finish_op("weight_only_gemm");
}

}  // namespace ostq::kernels::cuda_ops
