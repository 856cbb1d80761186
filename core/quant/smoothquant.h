// SPDX-License-Identifier: Apache-2.0
// SmoothQuant scales (OSTQUANT_SPEC.md §9): per input channel j of the q/k/v and gate/up
// readers, s_j = max|X_j|^α / max|W_{:,j}|^{1−α}, folded as the norm scales S_attn / S_ffn of a
// transform set (exact: X' = X·D(1/s) through the norm gain, W' = W·D(s)).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "core/model/model.h"
#include "core/quant/transforms.h"
#include "core/util/progress.h"

namespace ostq {

// Per layer, the per-channel max |x| over all calibration tokens of the attention-norm and
// FFN-norm outputs: fp32 [d] each.
struct NormOutputAbsMax {
  std::vector<at::Tensor> attn, ffn;
};
// tokens [N, T] int64 windows; `batch` windows per forward.
NormOutputAbsMax collect_norm_output_absmax(const Model& model, const at::Tensor& tokens, int64_t batch,
                                            const ProgressFn& progress = {});

// Sets t.layers[*].s_attn / s_ffn to SmoothQuant scales measured on the model with t's other
// transforms merged (so rotate+smooth smooths the rotated activations). alpha in [0, 1].
void add_smoothquant_scales(const Model& model, const at::Tensor& tokens, double alpha, TransformSet& t,
                            int64_t batch = 4, const ProgressFn& progress = {});

}  // namespace ostq
