// SPDX-License-Identifier: Apache-2.0
// The "avx2" LowBitOps variant: AVX2 + FMA. 8-wide fp32 FMA for the weight-only kernels (GEMM
// tile 4×16 = 8 ymm accumulators, within the 16 registers), vpmaddubsw + vpmaddwd (u8 × s8 pairs
// to int16, then to int32) for the integer GEMM, with 4-bit halves of the activation codes when a
// pair sum could saturate int16 (W8A8). The ops are lowbit_impl.inc; this file supplies the SIMD
// primitives.
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
#pragma GCC target("avx2,fma,bmi2")

namespace ostq::kernels {
namespace {
namespace avx2 {

using lowbit_detail::Grid;
using ostq::kernels::bf16_to_float;
using ostq::kernels::float_to_bf16;

struct V {
  static constexpr int L = 8, NV = 2, MR = 4, GJ = 2, E = 2;
  static constexpr bool kNeedsSplitCheck = true;  // vpmaddubsw saturates pairs at int16
  using F = __m256;
  using I = __m256i;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static F cvt(I v) { return _mm256_cvtepi32_ps(v); }
  static I izero() { return _mm256_setzero_si256(); }
  static I iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static I iload(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I imullo(I a, I b) { return _mm256_mullo_epi32(a, b); }
  // acc += Σ of 4 u8·s8 products per int32 lane (exact while each pair sum fits int16).
  static I dot4(I acc, I a, I w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), _mm256_set1_epi16(1)));
  }
  // The same for any u8: a = 16·a_hi + a_lo with 4-bit halves, so no pair sum can saturate.
  static I dot4_split(I acc, I a, I w) {
    const __m256i mask = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi16(1);
    const __m256i lo = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(a, mask), w), one);
    const __m256i hi = _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(a, 4), mask), w), one);
    return _mm256_add_epi32(acc, _mm256_add_epi32(lo, _mm256_slli_epi32(hi, 4)));
  }

  // 16 bytes = 32 4-bit codes → low nibbles (even columns) and high nibbles (odd columns), fp32.
  static void unpack32_nibbles(const uint8_t* p, F* lo, F* hi) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i l = _mm_and_si128(b, mask), h = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    lo[0] = cvt(_mm256_cvtepu8_epi32(l));
    lo[1] = cvt(_mm256_cvtepu8_epi32(_mm_srli_si128(l, 8)));
    hi[0] = cvt(_mm256_cvtepu8_epi32(h));
    hi[1] = cvt(_mm256_cvtepu8_epi32(_mm_srli_si128(h, 8)));
  }
  // 32 8-bit codes → columns 0..15 and 16..31, fp32.
  static void unpack32_bytes(const uint8_t* p, F* lo, F* hi) {
    for (int e = 0; e < 2; ++e) {
      lo[e] = cvt(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * e))));
      hi[e] = cvt(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16 + 8 * e))));
    }
  }

  static void bf16_to_f32(const uint16_t* in, float* out) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
    _mm256_storeu_ps(out, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  // Round to nearest even, NaN → quiet NaN (float_to_bf16).
  static void f32_to_bf16(const float* in, uint16_t* out) {
    const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(in));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40)), nan);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
  }

  static void min_max(const float* x, int64_t g, float* lo_out, float* hi_out) {
    float lo = x[0], hi = x[0];
    int64_t i = 0;
    if (g >= L) {
      F vl = load(x), vh = vl;
      for (i = L; i + L <= g; i += L) {
        const F v = load(x + i);
        vl = _mm256_min_ps(vl, v);
        vh = _mm256_max_ps(vh, v);
      }
      alignas(32) float a[L], b[L];
      _mm256_store_ps(a, vl);
      _mm256_store_ps(b, vh);
      for (int t = 0; t < L; ++t) {
        lo = std::min(lo, a[t]);
        hi = std::max(hi, b[t]);
      }
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
      F q = _mm256_round_ps(_mm256_div_ps(load(x + i), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm256_min_ps(_mm256_max_ps(add(q, vz), vmin), vmax);
      const __m256i c = _mm256_cvttps_epi32(add(q, voff));
      const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(w16, w16));
    }
    for (; i < g; ++i) {
      float q = std::nearbyint(x[i] / s) + z;
      q = std::min(std::max(q, gr.qmin), gr.qmax);
      out[i] = static_cast<uint8_t>(q + gr.offset);
    }
  }
};

#include "kernels/cpu/lowbit_impl.inc"

}  // namespace avx2
}  // namespace

const LowBitOps* lowbit_avx2_ops() {
  static const LowBitOps ops = {"avx2",          MemorySpace::kHost,       &avx2::hadamard_rows,
                                &avx2::hadamard_rows_bf16, &avx2::quantize_acts,   &avx2::pack_int4,
                                &avx2::unpack_int4,   &avx2::weight_only_gemm, &avx2::int_gemm};
  return &ops;
}

}  // namespace ostq::kernels

#pragma GCC pop_options

#else

namespace ostq::kernels {
const LowBitOps* lowbit_avx2_ops() { return nullptr; }
}  // namespace ostq::kernels

#endif
