// SPDX-License-Identifier: Apache-2.0
// Inputs and tolerances shared by the low-bit kernel tests (tst_lowbit_kernels: host variants,
// tst_lowbit_cuda: the device variant), so both compare against the reference on the same data.
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QString>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/lowbit.h"

namespace lowbit_test {

using namespace ostq::kernels;

constexpr double kEps = 1.0 / (1 << 24);  // fp32 unit roundoff
constexpr double kBf16Ulp = 1.0 / 256;

// Heavy-tailed rows (normal · e^normal) so groups have outliers; row 1 all zero, row 2 positive.
inline std::vector<float> random_rows(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(m * k));
  for (float& v : x) v = nd(rng) * std::exp(nd(rng));
  if (m > 2) {
    std::fill(x.begin() + k, x.begin() + 2 * k, 0.0f);
    for (int64_t c = 0; c < k; ++c) x[2 * k + c] = std::fabs(x[2 * k + c]);
  }
  return x;
}

// The ±1 base of order K: resources/hadamard/had<K>.txt when this source tree is at hand (the
// real tables the models use), else a seeded random ±1 matrix — the kernels compute x·(A ⊗ H)
// for any ±1 A, so both test the same arithmetic.
inline std::vector<int8_t> base_matrix(int64_t K) {
  if (K == 1) return {1};
  std::vector<int8_t> a(static_cast<size_t>(K * K));
  const std::string path = QFileInfo(QStringLiteral(__FILE__)).absoluteDir().filePath(
      QStringLiteral("../../resources/hadamard/had%1.txt").arg(K)).toStdString();
  std::ifstream in(path);
  int64_t i = 0;
  for (char c; in.get(c) && i < K * K;)
    if (c == '+' || c == '-') a[i++] = c == '+' ? 1 : -1;
  if (i == K * K) return a;
  std::mt19937 rng(static_cast<uint32_t>(K));
  for (int8_t& v : a) v = (rng() & 1) ? 1 : -1;
  return a;
}

inline HadamardSpec spec_of(int64_t base, int64_t pow2, const int8_t* a) {
  HadamardSpec h;
  h.base = base;
  h.pow2 = pow2;
  h.base_matrix = base > 1 ? a : nullptr;
  h.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(base * pow2)));
  return h;
}

// fp32 Hadamard vs the double reference, normwise per row: a butterfly stage adds ≤ eps relative
// per element, the base mix is a sum of `base` terms.
inline double hadamard_tolerance(const HadamardSpec& h) {
  return (std::log2(static_cast<double>(h.pow2)) + h.base + 2) * kEps;
}

// Quantized activations on the host, pre-filled with garbage so unwritten entries show.
struct Acts {
  std::vector<uint8_t> codes;
  std::vector<float> scale, zero;
  int64_t group = 0;
  ConstQuantizedActs view() const { return {codes.data(), scale.data(), zero.data(), group}; }
};

inline Acts quantize(const LowBitOps& ops, const float* x, int64_t m, int64_t k, const FakeQuantParams& p,
                     const HadamardSpec* fused = nullptr) {
  Acts a;
  a.group = p.group > 0 ? p.group : k;
  a.codes.assign(static_cast<size_t>(m * k), 0xAB);
  a.scale.assign(static_cast<size_t>(m * (k / a.group)), -1.0f);
  a.zero.assign(a.scale.size(), -1.0f);
  ops.quantize_acts(x, m, k, p, fused, {a.codes.data(), a.scale.data(), a.zero.data()});
  return a;
}

// Dequantized activations [m, k]: (code − zero)·scale per group.
inline std::vector<float> dequantize(const Acts& a, int64_t m, int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m * k; ++i) {
    const int64_t g = (i / k) * (k / a.group) + (i % k) / a.group;
    x[i] = (static_cast<float>(a.codes[i]) - a.zero[g]) * a.scale[g];
  }
  return x;
}

// Host weights in the canonical layout and their dequantized values [n, k], (u − zero)·scale.
struct HostWeights {
  LowBitWeightStore store;
  std::vector<float> dequant;
};

// Random codes in [0, 2^bits − 1]; symmetric: zero 2^{bits−1}, asymmetric: zero in [0, 2^bits − 1]
// (or `zero_override` when ≥ 0).
inline HostWeights random_host_weights(int bits, bool sym, int64_t n, int64_t k, int64_t group, uint32_t seed,
                                       float zero_override = -1.0f) {
  std::mt19937 rng(seed);
  const int qmax = (1 << bits) - 1;
  std::vector<int32_t> codes(static_cast<size_t>(n * k));
  for (int32_t& c : codes) c = static_cast<int32_t>(rng() % (qmax + 1));
  const int64_t groups = k / group;
  std::vector<float> scale(static_cast<size_t>(n * groups)), zero(scale.size());
  std::uniform_real_distribution<float> us(0.001f, 0.05f);
  for (size_t i = 0; i < scale.size(); ++i) {
    scale[i] = us(rng);
    zero[i] = sym ? static_cast<float>(1 << (bits - 1)) : static_cast<float>(rng() % (qmax + 1));
    if (zero_override >= 0.0f) zero[i] = zero_override;
  }
  HostWeights w;
  w.store = pack_lowbit_weights(codes.data(), scale.data(), zero.data(), bits, n, k, group);
  w.dequant.resize(codes.size());
  for (int64_t i = 0; i < n * k; ++i) {
    const int64_t g = (i / k) * groups + (i % k) / group;
    w.dequant[i] = (static_cast<float>(codes[i]) - zero[g]) * scale[g];
  }
  return w;
}

// Σ_c |x[i,c]·w[j,c]| for every output: the scale of the summation error.
inline std::vector<double> abs_products(const float* x, int64_t m, const std::vector<float>& w, int64_t n,
                                        int64_t k) {
  std::vector<double> s(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < k; ++c) s[i * n + j] += std::fabs(static_cast<double>(x[i * k + c]) * w[j * k + c]);
  return s;
}

// Largest |a − b| / (tol·scale_i) over all outputs (≤ 1 passes); a non-finite a fails.
inline double worst_ratio(const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& scale,
                          double tol) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / (tol * scale[i] + 1e-30));
  }
  return worst;
}

}  // namespace lowbit_test
