// SPDX-License-Identifier: Apache-2.0
// Fake quantizers of OSTQUANT_SPEC.md §7: dynamic activation quantization (per token, optionally
// grouped), weight quantization per output channel or per group with the MSE clip search, and
// the straight-through estimator for training. These are the reference implementations: the
// optimized kernels are tested against them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>

#include "core/util/status.h"

namespace ostq {

// How the scale of a symmetric quantizer is chosen.
enum class SymmetricScale {
  kSpec,     // s = max(xmin/qmin, xmax/qmax)       (§7.1; at 4 bits max(|xmin|/8, xmax/7))
  kAbsMax,   // s = max|x| / qmax                   (QuaRot, §9; §14's RTN)
};

// Dynamic activation quantizer: ranges from the tensor itself, reduced over the last dimension
// (per token) or over groups of `group_size` consecutive elements of it.
struct ActQuantSpec {
  int bits = 16;               // >= 16: identity
  bool symmetric = false;
  SymmetricScale sym_scale = SymmetricScale::kSpec;
  int64_t group_size = 0;      // 0: the whole last dimension
  double clip_ratio = 1.0;
  bool enabled() const { return bits < 16; }
  std::string describe() const;  // "A4 asym per-token", "A4 asym group 8 clip 0.90"
};

// x [..., n] (fp32/bf16/fp64) → fake-quantized x, same shape and dtype; the arithmetic runs in
// fp32 (fp64 for fp64 input). With ste = true the rounding uses the straight-through estimator
// (value identical to ste = false; gradients flow through round as identity, clamp keeps its
// true gradient, scales are differentiable through min/max).
// With ste = true it is fake_quant_activation_ste (fake_quant_ste.h: one autograd node, the
// reference's value and gradient). Without a gradient to track, fp32/bf16 CPU tensors take the
// fused kernel (kernels/cpu/fake_quant.h, bit-identical to the reference); everything else the
// reference.
at::Tensor fake_quant_activation(const at::Tensor& x, const ActQuantSpec& spec, bool ste = false);
// The tensor-composition reference of §7.1 (always; what the kernel is tested against).
at::Tensor fake_quant_activation_reference(const at::Tensor& x, const ActQuantSpec& spec, bool ste = false);

// The pieces of the activation quantizer, for training code with its own backward pass
// (core/calib/rotated_fake_quant.h): the code range [qmin, qmax] of a spec, and the scale s and
// zero point z (undefined for symmetric specs) of rows from their raw minima and maxima [R, 1],
// after Note [ranges include zero] and the clip — differentiable in both like the reference
// (z carries no gradient).
std::pair<double, double> activation_levels(const ActQuantSpec& spec);
std::pair<at::Tensor, at::Tensor> activation_scale_zero(const at::Tensor& row_min, const at::Tensor& row_max,
                                                        const ActQuantSpec& spec);

// Weight quantizer (rows = output channels).
struct WeightQuantSpec {
  int bits = 16;               // >= 16: identity
  bool symmetric = true;
  SymmetricScale sym_scale = SymmetricScale::kSpec;
  int64_t group_size = 0;      // 0: per output channel; else per row per group of input columns
  bool mse_clip = true;        // §7.1 / §8.1 clip search
  double mse_norm = 2.4;       // error Σ|q − x|^norm
  int mse_grid = 100;          // candidates p = 1 − i/grid
  double mse_max_shrink = 0.8; // … for i < max_shrink·grid
  bool enabled() const { return bits < 16; }
  std::string describe() const;  // "W4 sym per-channel mse(2.4)"
};

// Per-row (per-group) quantization grid: scale and zero point, fp32 [out, n_groups].
struct WeightQuantGrid {
  at::Tensor scale, zero;      // zero = 0 for symmetric
  int bits = 16;
  bool symmetric = true;
  int64_t group_size = 0;      // as in the spec that made it (0 = one group per row)
  int64_t qmin() const;        // symmetric: −2^{b−1}; asymmetric: 0
  int64_t qmax() const;        // symmetric: 2^{b−1} − 1; asymmetric: 2^b − 1
};

// Grid for w [out, in] (any float dtype; computed in fp32, MSE search included when asked).
// For grouped specs, columns [g·gs, (g+1)·gs) use grid column g.
WeightQuantGrid weight_quant_grid(const at::Tensor& w, const WeightQuantSpec& spec);

// Dequantized values of w on `grid`: (clamp(round(w/s) + z, qmin, qmax) − z)·s, in w's dtype.
// w may be a column slice [out, k] whose columns start at column `first_col` of the full matrix
// (needed by GPTQ to pick the right group).
at::Tensor weight_quant_apply(const at::Tensor& w, const WeightQuantGrid& grid, int64_t first_col = 0);

// Integer codes (int8 tensor, values in [qmin, qmax]) for export and tests.
at::Tensor weight_quant_codes(const at::Tensor& w, const WeightQuantGrid& grid);

// grid + apply in one call (RTN, §8.3). ste: straight-through estimator for training.
at::Tensor fake_quant_weight(const at::Tensor& w, const WeightQuantSpec& spec, bool ste = false);

}  // namespace ostq
