// SPDX-License-Identifier: Apache-2.0
// The scalar reference of every low-bit op (kernels/lowbit.h): plain loops written from
// OSTQUANT_SPEC.md §7.1 and the layouts of lowbit.h, the ground truth of tst_lowbit_kernels.
// Sums are taken in double (integer sums in int64) and rounded to fp32 once, so the reference is
// at least as accurate as any variant and the tests can bound a variant's error by its own
// summation order. The only OpenMP is over independent output rows (it changes no result).
//
// Hadamard: a plain scalar FWHT in double over each pow2 block (the Sylvester butterflies,
// y = x·H_pow2), then the dense base mix Y = Aᵀ·Z, times scale, rounded to fp32 (or bf16) once.
// tst_lowbit_kernels checks it against the dense (A ⊗ H) product written from the definition.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/lowbit.h"

namespace ostq::kernels {
namespace {

// row [n] ← row·(A ⊗ H_pow2)·scale in double; tmp: n doubles of scratch.
void hadamard_row_double(double* row, const HadamardSpec& h, double* tmp) {
  const int64_t base = h.base, pow2 = h.pow2, n = h.n();
  for (int64_t b = 0; b < base; ++b) {
    double* x = row + b * pow2;
    for (int64_t len = 1; len < pow2; len *= 2)
      for (int64_t i = 0; i < pow2; i += 2 * len)
        for (int64_t j = i; j < i + len; ++j) {
          const double a = x[j], c = x[j + len];
          x[j] = a + c;
          x[j + len] = a - c;
        }
  }
  if (base > 1) {
    // Y [base, pow2] = Aᵀ · Z: Y[b][q] = Σ_a A[a][b] · Z[a][q].
    for (int64_t b = 0; b < base; ++b)
      for (int64_t q = 0; q < pow2; ++q) {
        double s = 0.0;
        for (int64_t a = 0; a < base; ++a) s += h.base_matrix[a * base + b] * row[a * pow2 + q];
        tmp[b * pow2 + q] = s;
      }
    std::copy(tmp, tmp + n, row);
  }
  for (int64_t j = 0; j < n; ++j) row[j] *= static_cast<double>(h.scale);
}

void ref_hadamard_rows(float* data, int64_t rows, const HadamardSpec& h) {
  const int64_t n = h.n();
#pragma omp parallel for schedule(static) if (rows * n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> row(n), tmp(n);
    for (int64_t j = 0; j < n; ++j) row[j] = data[r * n + j];
    hadamard_row_double(row.data(), h, tmp.data());
    for (int64_t j = 0; j < n; ++j) data[r * n + j] = static_cast<float>(row[j]);
  }
}

void ref_hadamard_rows_bf16(uint16_t* data, int64_t rows, const HadamardSpec& h) {
  const int64_t n = h.n();
#pragma omp parallel for schedule(static) if (rows * n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> row(n), tmp(n);
    for (int64_t j = 0; j < n; ++j) row[j] = bf16_to_float(data[r * n + j]);
    hadamard_row_double(row.data(), h, tmp.data());
    // double → float → bf16 double-rounds only when the float rounding lands exactly on a bf16
    // tie, which needs 24+ significant bits of agreement; accepted (the tests allow 1 bf16 ulp).
    for (int64_t j = 0; j < n; ++j) data[r * n + j] = float_to_bf16(static_cast<float>(row[j]));
  }
}

// Spec §7.1 for one group of g values, in fp32 in the order of kernels/cpu/fake_quant.cpp.
// Codes: asymmetric u = q; symmetric u = q + 2^{b−1} with zero 2^{b−1}.
void quantize_group(const float* x, int64_t g, const FakeQuantParams& p, uint8_t* codes, float* scale_out,
                    float* zero_out) {
  const float qmax = p.symmetric ? std::ldexp(1.0f, p.bits - 1) - 1.0f : std::ldexp(1.0f, p.bits) - 1.0f;
  const float qmin = p.symmetric ? -std::ldexp(1.0f, p.bits - 1) : 0.0f;
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < g; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float xmin = std::min(lo, 0.0f) * p.clip_ratio;
  const float xmax = std::max(hi, 1e-6f) * p.clip_ratio;
  float s, z = 0.0f;
  if (p.symmetric) {
    s = p.absmax_scale ? std::max(-xmin, xmax) / qmax : std::max(xmin / qmin, xmax / qmax);
  } else {
    s = std::max(xmax - xmin, 1e-6f) / qmax;
    z = std::nearbyint(-xmin / s);
  }
  const float offset = p.symmetric ? -qmin : 0.0f;  // 2^{b−1} for symmetric
  for (int64_t i = 0; i < g; ++i) {
    float q = std::nearbyint(x[i] / s) + z;
    q = std::min(std::max(q, qmin), qmax);
    codes[i] = static_cast<uint8_t>(q + offset);
  }
  *scale_out = s;
  *zero_out = p.symmetric ? offset : z;
}

void ref_quantize_acts(const float* x, int64_t m, int64_t k, const FakeQuantParams& params,
                       const HadamardSpec* fused, QuantizedActs out) {
  const int64_t g = params.group > 0 ? params.group : k;
  const int64_t groups = k / g;
  for (int64_t r = 0; r < m; ++r) {
    std::vector<float> row(x + r * k, x + (r + 1) * k);
    if (fused) ref_hadamard_rows(row.data(), 1, *fused);
    for (int64_t gi = 0; gi < groups; ++gi)
      quantize_group(row.data() + gi * g, g, params, out.codes + r * k + gi * g, out.scale + r * groups + gi,
                     out.zero + r * groups + gi);
  }
}

void ref_pack_int4(const uint8_t* codes, int64_t count, uint8_t* packed) {
  for (int64_t j = 0; j < count / 2; ++j)
    packed[j] = static_cast<uint8_t>((codes[2 * j] & 0xf) | ((codes[2 * j + 1] & 0xf) << 4));
}

void ref_unpack_int4(const uint8_t* packed, int64_t count, uint8_t* codes) {
  for (int64_t j = 0; j < count / 2; ++j) {
    codes[2 * j] = packed[j] & 0xf;
    codes[2 * j + 1] = packed[j] >> 4;
  }
}

// Code u of weight row j, column c, in the canonical layout.
inline int weight_code(const LowBitWeights& w, int64_t j, int64_t c) {
  if (w.bits == 8) return w.data[j * w.k + c];
  const uint8_t b = w.data[j * (w.k / 2) + c / 2];
  return (c & 1) ? (b >> 4) : (b & 0xf);
}

void ref_weight_only_gemm(const float* x, int64_t m, const LowBitWeights& w, const float* bias, float* y) {
  const int64_t n = w.n, k = w.k, groups = w.groups();
#pragma omp parallel for schedule(static) if (m * n * k > (int64_t{1} << 20))
  for (int64_t j = 0; j < n; ++j) {
    // The dequantized row, exactly as fake_quant: (u − zero)·scale in fp32.
    std::vector<float> wrow(k);
    for (int64_t c = 0; c < k; ++c) {
      const int64_t gi = j * groups + c / w.group;
      wrow[c] = (static_cast<float>(weight_code(w, j, c)) - w.zero[gi]) * w.scale[gi];
    }
    for (int64_t i = 0; i < m; ++i) {
      double s = bias ? bias[j] : 0.0;
      for (int64_t c = 0; c < k; ++c) s += static_cast<double>(x[i * k + c]) * wrow[c];
      y[i * n + j] = static_cast<float>(s);
    }
  }
}

// Σ over blocks of the finer of the two groupings: sa·sw·Σ (a − za)(u − zw), the integer dot
// exact in int64 (equal to Σ a·(u − zw) − za·Σ (u − zw) of the header), the scaling in double.
void ref_int_gemm(const ConstQuantizedActs& a, int64_t m, const LowBitWeights& w, const float* bias, float* y) {
  const int64_t n = w.n, k = w.k;
  const int64_t block = std::min(a.group, w.group);
  const int64_t a_groups = k / a.group, w_groups = w.groups();
#pragma omp parallel for schedule(static) if (m * n * k > (int64_t{1} << 20))
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      double s = bias ? bias[j] : 0.0;
      for (int64_t c0 = 0; c0 < k; c0 += block) {
        const int64_t ga = i * a_groups + c0 / a.group, gw = j * w_groups + c0 / w.group;
        const int64_t za = static_cast<int64_t>(a.zero[ga]), zw = static_cast<int64_t>(w.zero[gw]);
        int64_t dot = 0;
        for (int64_t c = c0; c < c0 + block; ++c) dot += (a.codes[i * k + c] - za) * (weight_code(w, j, c) - zw);
        s += static_cast<double>(a.scale[ga]) * static_cast<double>(w.scale[gw]) * static_cast<double>(dot);
      }
      y[i * n + j] = static_cast<float>(s);
    }
  }
}

}  // namespace

const LowBitOps& lowbit_reference() {
  static const LowBitOps ops = {
      "reference",          MemorySpace::kHost, &ref_hadamard_rows,    &ref_hadamard_rows_bf16, &ref_quantize_acts,
      &ref_pack_int4,       &ref_unpack_int4,   &ref_weight_only_gemm, &ref_int_gemm,
  };
  return ops;
}

}  // namespace ostq::kernels
