// SPDX-License-Identifier: Apache-2.0
// Internal to the CPU low-bit variants (kernels/cpu/lowbit_*.cpp): the scalar pieces every variant
// shares, compiled for the baseline ISA in lowbit_common.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/bf16.h"
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


}  // namespace ostq::kernels::lowbit_detail
