// SPDX-License-Identifier: Apache-2.0
#include "kernels/cpu/lowbit_common.h"

#include <algorithm>
#include <cmath>

namespace ostq::kernels::lowbit_detail {

Grid grid_of(const FakeQuantParams& p) {
  if (p.symmetric) {
    const float half = std::ldexp(1.0f, p.bits - 1);
    return {-half, half - 1.0f, half};
  }
  return {0.0f, std::ldexp(1.0f, p.bits) - 1.0f, 0.0f};
}

void group_scale_zero(float lo, float hi, const FakeQuantParams& p, const Grid& g, float* s_out, float* z_out) {
  const float xmin = std::min(lo, 0.0f) * p.clip_ratio;
  const float xmax = std::max(hi, 1e-6f) * p.clip_ratio;
  float s, z = 0.0f;
  if (p.symmetric) {
    s = p.absmax_scale ? std::max(-xmin, xmax) / g.qmax : std::max(xmin / g.qmin, xmax / g.qmax);
  } else {
    s = std::max(xmax - xmin, 1e-6f) / g.qmax;
    z = std::nearbyint(-xmin / s);
  }
  *s_out = s;
  *z_out = z;
}

}  // namespace ostq::kernels::lowbit_detail
