// SPDX-License-Identifier: Apache-2.0
// Integer GEMM (W4A4, W8A8): y [m, n] = Σ_groups sa·sw·D + bias with, per row r, output channel c
// and "fine" group (size gf = min(a.group, w.group), the other group size a multiple of it)
//   D = Σ (a − za)(u − zw)  (exact integers)  = Σ a′·w′ + (128 − za)·Σ w′,
// a′ = a − 128 ∈ s8 (activation codes are u8 up to 255, so they are centred; a′ = a ^ 0x80) and
// w′ = u − zw ∈ s8. The fine groups are summed in column order as (sa·sw)·float(D), then the bias.
//
// Tensor-core path (gf % 32 == 0): a 64×64 output tile per block of 4 warps (2×2, 32×32 each);
// k in steps of 32: the A tile (a′) and the B tile (w′, nibbles unpacked) are staged in shared
// memory as s8, then each warp issues 2×4 mma.sync.m16n8k32 s8·s8→s32. At the end of each fine
// group the int32 accumulators are scaled into fp32 ones. Σ w′ per fine group is w.code_sum when
// gf = w.group, else computed by a small kernel first.
// Other group sizes: a scalar kernel, one thread per output, with the same D and fp32 order.
#include <climits>
#include <string>

#include "kernels/cuda/lowbit_common.cuh"
#include "kernels/cuda/lowbit_cuda_ops.h"
#include "kernels/cuda/lowbit_weights.cuh"

namespace ostq::kernels::cuda_ops {
namespace {

using namespace cuda_detail;

// Set by the MMA kernel when a weight code gives u − zw outside int8 (8-bit asymmetric weights).
__device__ int g_weight_range_error;

struct IntGemmArgs {
  const uint8_t* a_codes;  // [m, k]
  const float* a_scale;    // [m, k / ga]
  const float* a_zero;     // [m, k / ga]
  const uint8_t* w_data;   // canonical layout
  const float* w_scale;    // [n, k / gw]
  const float* w_zero;     // [n, k / gw]
  const int32_t* w_sum;    // Σ w′ per fine group [n, k / gf]
  const float* bias;       // [n] or nullptr
  float* y;                // [m, n]
  int64_t m;
  int n, k, ga, gw, gf;
};

// One fine group's contribution, in the order of the header formula: (sa·sw)·float(D).
__device__ __forceinline__ float group_term(const IntGemmArgs& p, int64_t row, int col, int k0,
                                            long long dot_centred) {
  const int64_t ai = row * (p.k / p.ga) + k0 / p.ga;
  const int64_t wi = static_cast<int64_t>(col) * (p.k / p.gw) + k0 / p.gw;
  const int64_t fi = static_cast<int64_t>(col) * (p.k / p.gf) + k0 / p.gf;
  const long long za = __float2ll_rn(__ldg(p.a_zero + ai));
  const long long d = dot_centred + (128 - za) * static_cast<long long>(__ldg(p.w_sum + fi));
  return __fmul_rn(__fmul_rn(__ldg(p.a_scale + ai), __ldg(p.w_scale + wi)), static_cast<float>(d));
}

// Σ (u − zw) per (channel, fine group) → out [n, k / gf], for gf < w.group.
template <int kBits>
__global__ void fine_code_sum_kernel(const uint8_t* __restrict__ data,
                                     const float* __restrict__ zero, int n, int k, int gw, int gf,
                                     int32_t* __restrict__ out) {
  const int fgroups = k / gf;
  const int64_t total = static_cast<int64_t>(n) * fgroups;
  const int64_t row_bytes = kBits == 4 ? k / 2 : k;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total;
       t += int64_t{gridDim.x} * blockDim.x) {
    const int col = static_cast<int>(t / fgroups), fg = static_cast<int>(t % fgroups);
    const int k0 = fg * gf;
    const int zw = __float2int_rn(__ldg(zero + static_cast<int64_t>(col) * (k / gw) + k0 / gw));
    const uint8_t* wrow = data + col * row_bytes;
    int s = 0;
    for (int kk = k0; kk < k0 + gf; ++kk) s += weight_code<kBits>(wrow, kk) - zw;
    out[t] = s;
  }
}

constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kMmaThreads = 128;
constexpr int kRowWords =
    12;  // 8 words (32 k bytes) + 4 padding: fragment loads are bank-conflict free

__device__ __forceinline__ uint32_t pack_s8x4(int d0, int d1, int d2, int d3) {
  return (static_cast<uint32_t>(d0) & 0xFFu) | ((static_cast<uint32_t>(d1) & 0xFFu) << 8) |
         ((static_cast<uint32_t>(d2) & 0xFFu) << 16) | ((static_cast<uint32_t>(d3) & 0xFFu) << 24);
}

__device__ __forceinline__ void mma_s8_16832(int (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                             uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Requires gf % 32 == 0 (so k % 32 == 0), a_codes 16-byte and w_data 16-byte (8-bit) or 8-byte
// (4-bit) aligned. grid (⌈n/64⌉, ⌈m/64⌉), 128 threads.
template <int kBits>
__global__ void __launch_bounds__(kMmaThreads) int_gemm_mma_kernel(IntGemmArgs p) {
  // Row-major s8 tiles, k contiguous: As[r] = a′[m0 + r, k0…k0+31], Bs[c] = w′[n0 + c, k0…k0+31].
  __shared__ uint32_t As[kTileM][kRowWords];
  __shared__ uint32_t Bs[kTileN][kRowWords];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 1, wn = warp & 1;  // warp tile origin (wm·32, wn·32)
  const int gid = lane >> 2, tig = lane & 3;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int n0 = blockIdx.x * kTileN;
  const int64_t w_row_bytes = kBits == 4 ? p.k / 2 : p.k;
  // Each thread stages half a row (16 k values) of both tiles: row lr, k offset 16·lh.
  const int lr = tid >> 1, lh = tid & 1;

  int iacc[2][4][4] = {};
  float facc[2][4][4] = {};

  for (int k0 = 0; k0 < p.k; k0 += kTileK) {
    {  // A tile: 16 codes → a′ = a ^ 0x80 per byte; rows past m are zero.
      const int64_t gm = m0 + lr;
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (gm < p.m) {
        v = __ldg(reinterpret_cast<const uint4*>(p.a_codes + gm * p.k + k0 + 16 * lh));
        v.x ^= 0x80808080u;
        v.y ^= 0x80808080u;
        v.z ^= 0x80808080u;
        v.w ^= 0x80808080u;
      }
      As[lr][4 * lh + 0] = v.x;
      As[lr][4 * lh + 1] = v.y;
      As[lr][4 * lh + 2] = v.z;
      As[lr][4 * lh + 3] = v.w;
    }
    {  // B tile: 16 codes → w′ = u − zw (one weight group: gw % 32 == 0); channels past n are zero.
      const int gn = n0 + lr;
      uint32_t words[4] = {0u, 0u, 0u, 0u};
      if (gn < p.n) {
        const uint8_t* wrow = p.w_data + static_cast<int64_t>(gn) * w_row_bytes;
        const int zw =
            __float2int_rn(__ldg(p.w_zero + static_cast<int64_t>(gn) * (p.k / p.gw) + k0 / p.gw));
        int c[16];
        if constexpr (kBits == 4) {
          const uint2 raw = __ldg(reinterpret_cast<const uint2*>(wrow + (k0 + 16 * lh) / 2));
          const unsigned long long bitsv = (static_cast<unsigned long long>(raw.y) << 32) | raw.x;
#pragma unroll
          for (int e = 0; e < 16; ++e) c[e] = static_cast<int>((bitsv >> (4 * e)) & 0xFull) - zw;
        } else {
          const uint4 raw = __ldg(reinterpret_cast<const uint4*>(wrow + k0 + 16 * lh));
          const uint32_t rw[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
          for (int e = 0; e < 16; ++e)
            c[e] = static_cast<int>((rw[e / 4] >> (8 * (e % 4))) & 0xFFu) - zw;
        }
        bool bad = false;
#pragma unroll
        for (int e = 0; e < 16; ++e) bad |= c[e] < -128 || c[e] > 127;
        if (bad) atomicOr(&g_weight_range_error, 1);
#pragma unroll
        for (int q = 0; q < 4; ++q)
          words[q] = pack_s8x4(c[4 * q], c[4 * q + 1], c[4 * q + 2], c[4 * q + 3]);
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) Bs[lr][4 * lh + q] = words[q];
    }
    __syncthreads();

    // Fragments (PTX ISA, mma.m16n8k32 .s8): A a0 = (row g, k 4t…4t+3), a1 = (g+8, 4t…),
    // a2 = (g, 16+4t…), a3 = (g+8, 16+4t…); B b0 = (k 4t…4t+3, col g), b1 = (k 16+4t…, col g);
    // D d0,d1 = (row g, col 2t, 2t+1), d2,d3 = (row g+8, col 2t, 2t+1); g = lane/4, t = lane%4.
    uint32_t af[2][4];
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
      const int r = wm * 32 + mi * 16 + gid;
      af[mi][0] = As[r][tig];
      af[mi][1] = As[r + 8][tig];
      af[mi][2] = As[r][4 + tig];
      af[mi][3] = As[r + 8][4 + tig];
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int c = wn * 32 + ni * 8 + gid;
      const uint32_t b0 = Bs[c][tig], b1 = Bs[c][4 + tig];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) mma_s8_16832(iacc[mi][ni], af[mi], b0, b1);
    }
    __syncthreads();  // the tiles are refilled next step

    if ((k0 + kTileK) % p.gf == 0) {  // end of a fine group: scale into fp32, restart the integers
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t row = m0 + wm * 32 + mi * 16 + gid + (e >= 2 ? 8 : 0);
            const int col = n0 + wn * 32 + ni * 8 + 2 * tig + (e & 1);
            if (row < p.m && col < p.n)
              facc[mi][ni][e] =
                  __fadd_rn(facc[mi][ni][e], group_term(p, row, col, k0, iacc[mi][ni][e]));
            iacc[mi][ni][e] = 0;
          }
    }
  }
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t row = m0 + wm * 32 + mi * 16 + gid + (e >= 2 ? 8 : 0);
        const int col = n0 + wn * 32 + ni * 8 + 2 * tig + (e & 1);
        if (row < p.m && col < p.n)
          p.y[row * p.n + col] =
              __fadd_rn(facc[mi][ni][e], p.bias != nullptr ? __ldg(p.bias + col) : 0.0f);
      }
}

// Any group sizes: one thread per output; D = Σ a′·w′ over the fine group, exactly as the MMA path.
template <int kBits>
__global__ void int_gemm_scalar_kernel(IntGemmArgs p) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t row = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y;
  if (col >= p.n || row >= p.m) return;
  const uint8_t* arow = p.a_codes + row * p.k;
  const uint8_t* wrow = p.w_data + static_cast<int64_t>(col) * (kBits == 4 ? p.k / 2 : p.k);
  float acc = 0.0f;
  for (int k0 = 0; k0 < p.k; k0 += p.gf) {
    const int zw =
        __float2int_rn(__ldg(p.w_zero + static_cast<int64_t>(col) * (p.k / p.gw) + k0 / p.gw));
    long long dot = 0;
    for (int kk = k0; kk < k0 + p.gf; ++kk)
      dot += static_cast<long long>(static_cast<int>(__ldg(arow + kk)) - 128) *
             (weight_code<kBits>(wrow, kk) - zw);
    acc = __fadd_rn(acc, group_term(p, row, col, k0, dot));
  }
  p.y[row * p.n + col] = __fadd_rn(acc, p.bias != nullptr ? __ldg(p.bias + col) : 0.0f);
}

// Device scratch freed on scope exit (the op synchronises before returning).
struct ScratchI32 {
  int32_t* ptr = nullptr;
  explicit ScratchI32(size_t count) {
    if (count > 0) check(cudaMalloc(&ptr, count * sizeof(int32_t)), "int_gemm scratch");
  }
  ~ScratchI32() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  ScratchI32(const ScratchI32&) = delete;
  ScratchI32& operator=(const ScratchI32&) = delete;
};

template <int kBits>
void run_int_gemm(IntGemmArgs p, const LowBitWeights& w) {
  const bool mma =
      p.gf % kTileK == 0 && aligned_to(p.a_codes, 16) && aligned_to(p.w_data, kBits == 4 ? 8 : 16);
  ScratchI32 holder(p.gf != p.gw ? static_cast<size_t>(p.n) * (p.k / p.gf) : 0);
  if (p.gf != p.gw) {
    const int64_t total = static_cast<int64_t>(p.n) * (p.k / p.gf);
    fine_code_sum_kernel<kBits>
        <<<grid_for(total, 256), 256>>>(p.w_data, p.w_zero, p.n, p.k, p.gw, p.gf, holder.ptr);
    check(cudaGetLastError(), "int_gemm (code sums)");
    p.w_sum = holder.ptr;
  } else {
    require(w.code_sum != nullptr, "int_gemm: null code_sum");
    p.w_sum = w.code_sum;
  }
  if (mma) {
    const int zero = 0;
    check(cudaMemcpyToSymbol(g_weight_range_error, &zero, sizeof(int)), "int_gemm");
    const dim3 grid(static_cast<unsigned>((p.n + kTileN - 1) / kTileN),
                    static_cast<unsigned>((p.m + kTileM - 1) / kTileM));
    int_gemm_mma_kernel<kBits><<<grid, kMmaThreads>>>(p);
    finish_op("int_gemm");
    int bad = 0;
    check(cudaMemcpyFromSymbol(&bad, g_weight_range_error, sizeof(int)), "int_gemm");
    require(bad == 0,
            "int_gemm: weight codes with u − zero outside int8 (8-bit weights must be symmetric)");
  } else {
    const dim3 block(32, 8);
    const dim3 grid(static_cast<unsigned>((p.n + 31) / 32), static_cast<unsigned>((p.m + 7) / 8));
    int_gemm_scalar_kernel<kBits><<<grid, block>>>(p);
    finish_op("int_gemm");
  }
}

}  // namespace

void int_gemm(const ConstQuantizedActs& a, int64_t m, const LowBitWeights& w, const float* bias,
              float* y) {
  check_weights(w, "int_gemm");
  require(a.group > 0 && w.k % a.group == 0, "int_gemm: activation group " +
                                                 std::to_string(a.group) + " does not divide k " +
                                                 std::to_string(w.k));
  require(a.group % w.group == 0 || w.group % a.group == 0,
          "int_gemm: one of the group sizes (activations " + std::to_string(a.group) +
              ", weights " + std::to_string(w.group) + ") must divide the other");
  require(m >= 0 && m <= int64_t{65535} * 8, "int_gemm: bad m");
  if (m == 0) return;
  require(a.codes && a.scale && a.zero && y, "int_gemm: null pointer");
  const int64_t gf = a.group < w.group ? a.group : w.group;
  // |D| ≤ 2·128·128·gf must fit the int32 MMA accumulators.
  require(gf <= 65536, "int_gemm: fine group larger than 65536");
  IntGemmArgs p{a.codes,
                a.scale,
                a.zero,
                w.data,
                w.scale,
                w.zero,
                nullptr,
                bias,
                y,
                m,
                static_cast<int>(w.n),
                static_cast<int>(w.k),
                static_cast<int>(a.group),
                static_cast<int>(w.group),
                static_cast<int>(gf)};
  if (w.bits == 4)
    run_int_gemm<4>(p, w);
  else
    run_int_gemm<8>(p, w);
}

}  // namespace ostq::kernels::cuda_ops
