// SPDX-License-Identifier: Apache-2.0
#include "kernels/cpu/fake_quant.h"

#include <algorithm>
#include <cmath>

namespace ostq::kernels {

namespace {

constexpr float kRangeFloor = 1e-6f;

// One group of g elements: ranges widened to contain 0 (xmax ≥ 1e-6), scaled by clip, then
// (clamp(round(x/s) + z, qmin, qmax) − z)·s with round = nearbyint (ties to even, as at::round).
// target_clones: the baseline x86-64 build has no vector rounding (SSE4.1 roundps), so nearbyintf
// would be a scalar libm call per element; the AVX2 clone vectorizes both loops and is picked at
// load time on CPUs that have it.
__attribute__((target_clones("avx512f", "avx2", "default")))
void fake_quant_group(const float* x, float* out, int64_t g, const FakeQuantParams& p, float qmin, float qmax) {
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < g; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float xmin = std::min(lo, 0.0f) * p.clip_ratio;
  const float xmax = std::max(hi, kRangeFloor) * p.clip_ratio;
  float s, z = 0.0f;
  if (p.symmetric) {
    s = p.absmax_scale ? std::max(-xmin, xmax) / qmax : std::max(xmin / qmin, xmax / qmax);
  } else {
    s = std::max(xmax - xmin, kRangeFloor) / qmax;
    z = std::nearbyint(-xmin / s);
  }
  for (int64_t i = 0; i < g; ++i) {
    float q = std::nearbyint(x[i] / s) + z;
    q = std::min(std::max(q, qmin), qmax);
    out[i] = (q - z) * s;
  }
}

}  // namespace

void fake_quant_rows(const float* in, float* out, int64_t rows, int64_t n, const FakeQuantParams& p) {
  const int64_t g = p.group > 0 ? p.group : n;
  const float qmax = p.symmetric ? std::ldexp(1.0f, p.bits - 1) - 1.0f : std::ldexp(1.0f, p.bits) - 1.0f;
  const float qmin = p.symmetric ? -std::ldexp(1.0f, p.bits - 1) : 0.0f;
  const int64_t groups = rows * (n / g);
#pragma omp parallel for schedule(static) if (groups * g > 32768)
  for (int64_t k = 0; k < groups; ++k) fake_quant_group(in + k * g, out + k * g, g, p, qmin, qmax);
}

}  // namespace ostq::kernels
