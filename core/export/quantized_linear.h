// SPDX-License-Identifier: Apache-2.0
// The integer form of a quantized linear, recovered exactly from a quantized model: the
// dequantized weight W_q [out, in] that was evaluated and the grid (scale, zero) it was quantized
// on give codes = round(W_q / s) + z, and (codes − z)·s reproduces W_q bit for bit. Every packed
// export (GPTQ, compressed-tensors, GGUF) starts from this.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/engine/forward.h"
#include "core/quant/methods.h"

namespace ostq {

struct QuantizedLinear {
  at::Tensor codes;        // int8 [out, in] (int16 for 8-bit asymmetric): symmetric in [−2^{b−1}, 2^{b−1}−1],
                           // asymmetric in [0, 2^b−1]
  at::Tensor scale;        // fp32 [out, n_groups]
  at::Tensor zero;         // fp32 [out, n_groups], integer values; all 0 when symmetric
  int bits = 4;
  bool symmetric = true;
  int64_t group_size = 0;  // 0: one group per output row (per channel); else columns per group
  int64_t out_features() const { return codes.size(0); }
  int64_t in_features() const { return codes.size(1); }
  // Columns per group as a number (in_features when per channel).
  int64_t effective_group_size() const { return group_size > 0 ? group_size : in_features(); }
};

// True when the model's seven linears per layer carry quantization grids (weights quantized by
// RTN or GPTQ in this build).
bool has_weight_grids(const QuantizedModel& q);

// Codes and grid of one linear. Throws StatusError(invalid) when the model has no grids, and
// (internal) when the stored weight is not on its grid (|(codes − z)·s − W_q| > 1e-6·max|W_q|).
QuantizedLinear quantized_linear(const QuantizedModel& q, int64_t layer, LinearId id);

// (codes − zero)·scale, fp32 [out, in].
at::Tensor quantized_linear_dequantize(const QuantizedLinear& l);

}  // namespace ostq
