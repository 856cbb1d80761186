// SPDX-License-Identifier: Apache-2.0
// pack_lowbit_weights: unsigned codes [n, k] + scale/zero [n, k/group] → the canonical layout of
// kernels/lowbit.h, with the zero-point correction code_sum = Σ (u − zero) per group.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/lowbit.h"

namespace ostq::kernels {

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("pack_lowbit_weights: " + what);
}

}  // namespace

LowBitWeightStore pack_lowbit_weights(const int32_t* codes, const float* scale, const float* zero, int bits,
                                      int64_t n, int64_t k, int64_t group) {
  if (bits != 4 && bits != 8) bad("bits must be 4 or 8, got " + std::to_string(bits));
  if (n <= 0 || k <= 0) bad("shape [" + std::to_string(n) + ", " + std::to_string(k) + "] is empty or negative");
  if (group <= 0 || k % group != 0)
    bad("group " + std::to_string(group) + " must be positive and divide k = " + std::to_string(k));
  if (bits == 4 && k % 2 != 0) bad("4-bit weights need an even k (two codes per byte), got k = " + std::to_string(k));
  if (!codes || !scale || !zero) bad("null codes, scale or zero pointer");

  const int64_t groups = k / group;
  const int32_t qmax = (1 << bits) - 1;
  LowBitWeightStore st;
  st.bits = bits;
  st.n = n;
  st.k = k;
  st.group = group;
  st.scale.assign(scale, scale + n * groups);
  st.zero.assign(zero, zero + n * groups);
  st.code_sum.resize(static_cast<size_t>(n * groups));
  for (int64_t gi = 0; gi < n * groups; ++gi) {
    const std::string where = "row " + std::to_string(gi / groups) + " group " + std::to_string(gi % groups);
    if (!std::isfinite(scale[gi])) bad("scale of " + where + " is not finite");
    const float z = zero[gi];
    if (!std::isfinite(z) || z != std::nearbyint(z) || std::fabs(z) > 65536.0f)
      bad("zero of " + where + " must be an integer in [-65536, 65536], got " + std::to_string(z));
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t z = static_cast<int64_t>(zero[j * groups + gi]);
      int64_t sum = 0;
      for (int64_t c = gi * group; c < (gi + 1) * group; ++c) {
        const int32_t u = codes[j * k + c];
        if (u < 0 || u > qmax)
          bad("code " + std::to_string(u) + " at [" + std::to_string(j) + ", " + std::to_string(c) +
              "] is outside [0, " + std::to_string(qmax) + "]");
        sum += u - z;
      }
      if (sum < std::numeric_limits<int32_t>::min() || sum > std::numeric_limits<int32_t>::max())
        bad("code sum of row " + std::to_string(j) + " group " + std::to_string(gi) + " overflows int32");
      st.code_sum[j * groups + gi] = static_cast<int32_t>(sum);
    }

  if (bits == 8) {
    st.data.resize(static_cast<size_t>(n * k));
    for (int64_t i = 0; i < n * k; ++i) st.data[i] = static_cast<uint8_t>(codes[i]);
  } else {
    st.data.resize(static_cast<size_t>(n * k / 2));
    for (int64_t i = 0; i < n * k / 2; ++i)
      st.data[i] = static_cast<uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
  }
  return st;
}

}  // namespace ostq::kernels
