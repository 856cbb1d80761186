// SPDX-License-Identifier: Apache-2.0
// The activation quantizer's training form (OSTQUANT_SPEC.md §7.1: straight-through rounding, the
// clamp's true gradient, scales differentiable through the row minimum and maximum) as one
// autograd node. Same value and gradient as fake_quant_activation_reference(x, spec, ste = true),
// but it saves the input and a byte mask instead of the composition's ~10 intermediates (which
// dominate a training step's memory at the K/V, o_proj and down_proj sites) and makes one pass
// per direction. The pieces are shared with rotated_fake_quant (core/calib).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "core/quant/quantizer.h"

namespace ostq {

// x [..., n] fp32/fp64 (per token or grouped spec) → fake-quantized x with the STE graph.
at::Tensor fake_quant_activation_ste(const at::Tensor& x, const ActQuantSpec& spec);

// A spec as the scalars a custom autograd node can carry in its saved data, and back.
std::vector<double> pack_act_spec(const ActQuantSpec& spec);
ActQuantSpec unpack_act_spec(const std::vector<double>& packed);

// Rows u [R, m] (m = n or the group size) quantized on `spec`, without a graph.
struct SteRows {
  at::Tensor q;                  // [R, m] dequantized values
  at::Tensor in_range;           // [R, m] bool: the code was inside [qmin, qmax] before the clamp
  at::Tensor scale, zero;        // [R, 1]; zero undefined for symmetric specs
  at::Tensor row_min, row_max;   // [R, 1] raw extremes of u (before Note [ranges include zero])
};
SteRows ste_quantize_rows(const at::Tensor& u, const ActQuantSpec& spec);

// The loss's gradient w.r.t. each row's scale [R, 1] → w.r.t. its raw minimum and maximum [R, 1]
// (through activation_scale_zero; undefined where the formula does not use one).
std::pair<at::Tensor, at::Tensor> scale_grad_to_extremes(const at::Tensor& row_min, const at::Tensor& row_max,
                                                         const at::Tensor& grad_scale, const ActQuantSpec& spec);

}  // namespace ostq
