// SPDX-License-Identifier: Apache-2.0
// The "avx512-vnni" LowBitOps variant: AVX-512 F/BW/VL + VNNI. 16-wide fp32 FMA for the
// weight-only kernels (GEMM tile 4×64 = 16 zmm accumulators), vpdpbusd (u8 activations × s8
// (u − zw) weights, 4 products per int32 lane, no intermediate saturation) for the integer GEMM
// (tile 4×64; 6×64 made GCC 12 spill accumulators). The ops themselves are lowbit_impl.inc; this file supplies the SIMD primitives.
#include "kernels/cpu/lowbit_cpu.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/fwht.h"
#include "kernels/cpu/lowbit_common.h"

#if defined(_OPENMP)
#define OSTQ_OMP(x) _Pragma(#x)
#else
#define OSTQ_OMP(x)
#endif

#pragma GCC push_options
// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsics as uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")

namespace ostq::kernels {
namespace {
namespace avx512 {

using lowbit_detail::Grid;
using ostq::kernels::bf16_to_float;
using ostq::kernels::float_to_bf16;

struct V {
  static constexpr int L = 16, NV = 4, MR = 4, GJ = 4, E = 1;
  static constexpr bool kNeedsSplitCheck = false;  // vpdpbusd sums in int32
  using F = __m512;
  using I = __m512i;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }
  static F cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static I izero() { return _mm512_setzero_si512(); }
  static I iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static I iload(const void* p) { return _mm512_loadu_si512(p); }
  static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I imullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I dot4(I acc, I a, I w) { return _mm512_dpbusd_epi32(acc, a, w); }
  static I dot4_split(I acc, I a, I w) { return dot4(acc, a, w); }

  // 16 bytes = 32 4-bit codes → low nibbles (even columns) and high nibbles (odd columns), fp32.
  static void unpack32_nibbles(const uint8_t* p, F* lo, F* hi) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i mask = _mm_set1_epi8(0x0f);
    lo[0] = cvt(_mm512_cvtepu8_epi32(_mm_and_si128(b, mask)));
    hi[0] = cvt(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), mask)));
  }
  // 32 8-bit codes → columns 0..15 and 16..31, fp32.
  static void unpack32_bytes(const uint8_t* p, F* lo, F* hi) {
    lo[0] = cvt(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    hi[0] = cvt(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16))));
  }

  static void bf16_to_f32(const uint16_t* in, float* out) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)));
    _mm512_storeu_ps(out, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
  }
  // Round to nearest even, NaN → quiet NaN (float_to_bf16).
  static void f32_to_bf16(const float* in, uint16_t* out) {
    const __m512i b = _mm512_castps_si512(_mm512_loadu_ps(in));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(r));
  }

  static void min_max(const float* x, int64_t g, float* lo_out, float* hi_out) {
    float lo = x[0], hi = x[0];
    int64_t i = 0;
    if (g >= L) {
      F vl = load(x), vh = vl;
      for (i = L; i + L <= g; i += L) {
        const F v = load(x + i);
        vl = _mm512_min_ps(vl, v);
        vh = _mm512_max_ps(vh, v);
      }
      lo = _mm512_reduce_min_ps(vl);
      hi = _mm512_reduce_max_ps(vh);
    }
    for (; i < g; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    *lo_out = lo;
    *hi_out = hi;
  }

  // codes u = clamp(nearbyint(x/s) + z, qmin, qmax) + offset: the fp32 operations of fake_quant.
  static void codes(const float* x, int64_t g, float s, float z, const Grid& gr, uint8_t* out) {
    const F vs = set1(s), vz = set1(z), vmin = set1(gr.qmin), vmax = set1(gr.qmax), voff = set1(gr.offset);
    int64_t i = 0;
    for (; i + L <= g; i += L) {
      F q = _mm512_roundscale_ps(_mm512_div_ps(load(x + i), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_ps(_mm512_max_ps(add(q, vz), vmin), vmax);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(add(q, voff))));
    }
    for (; i < g; ++i) {
      float q = std::nearbyint(x[i] / s) + z;
      q = std::min(std::max(q, gr.qmin), gr.qmax);
      out[i] = static_cast<uint8_t>(q + gr.offset);
    }
  }
};

#include "kernels/cpu/lowbit_impl.inc"

}  // namespace avx512
}  // namespace

const LowBitOps* lowbit_avx512_vnni_ops() {
  static const LowBitOps ops = {"avx512-vnni",          MemorySpace::kHost,       &avx512::hadamard_rows,
                                &avx512::hadamard_rows_bf16, &avx512::quantize_acts,   &avx512::pack_int4,
                                &avx512::unpack_int4,   &avx512::weight_only_gemm, &avx512::int_gemm};
  return &ops;
}

}  // namespace ostq::kernels

#pragma GCC diagnostic pop
#pragma GCC pop_options

#else

namespace ostq::kernels {
const LowBitOps* lowbit_avx512_vnni_ops() { return nullptr; }
}  // namespace ostq::kernels

#endif
