// SPDX-License-Identifier: Apache-2.0
// Fused dynamic activation fake-quantization on raw fp32 rows (no torch): one pass for the range
// and one for quantize-dequantize per group, instead of the ~8 tensor passes of the reference
// composition in core/quant/quantizer.cpp. Same arithmetic, same order, in fp32 (OSTQUANT_SPEC.md
// §7.1), so the result is bit-identical to the reference (tested in tst_quantizer_kernel).
#pragma once

#include <cstdint>

namespace ostq::kernels {

struct FakeQuantParams {
  int bits = 4;
  bool symmetric = false;
  bool absmax_scale = false;  // symmetric: s = max|x|·clip / qmax instead of max(xmin/qmin, xmax/qmax)
  float clip_ratio = 1.0f;
  int64_t group = 0;          // elements per group along the row; 0 = the whole row
};

// out = fake_quant(in) for [rows, n] row-major contiguous arrays (in == out allowed). Groups must
// divide n. Groups run in parallel.
void fake_quant_rows(const float* in, float* out, int64_t rows, int64_t n, const FakeQuantParams& params);

}  // namespace ostq::kernels
