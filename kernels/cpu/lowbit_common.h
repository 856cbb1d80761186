// SPDX-License-Identifier: Apache-2.0
// Internal to the CPU low-bit variants (kernels/cpu/lowbit_*.cpp): the scalar pieces every variant
// shares, compiled for the baseline ISA in lowbit_common.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/fake_quant.h"

namespace ostq::kernels::lowbit_detail {

// Quantization grid of FakeQuantParams: q ∈ [qmin, qmax]; stored code u = q + offset
// (offset 2^{b−1} for symmetric, 0 for asymmetric).
struct Grid {
  float qmin, qmax, offset;
};
Grid grid_of(const FakeQuantParams& p);

// Scale s and zero z of one group with range [lo, hi], OSTQUANT_SPEC.md §7.1 in the exact fp32
// operations of kernels/cpu/fake_quant.cpp. Kept out of the FMA-enabled variant TUs on purpose:
// under -ffp-contract=fast `hi·clip − lo·clip` could become an FMA and change s by an ulp.
void group_scale_zero(float lo, float hi, const FakeQuantParams& p, const Grid& g, float* s, float* z);

inline float lowbit_bf16_to_float(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays a quiet NaN (as kernels/ref/lowbit_ref.cpp).
inline uint16_t lowbit_float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace ostq::kernels::lowbit_detail
