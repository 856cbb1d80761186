// SPDX-License-Identifier: Apache-2.0
// Sequential GPTQ over a whole model (OSTQUANT_SPEC.md §8.1): layer by layer, and inside each
// layer the linear groups [k, v, q] → [o] → [gate, up] → [down], each group's Hessian taken from
// the inputs of the partially quantized layer; then the layer's outputs are recomputed with the
// quantized weights and feed the next layer. Activation quantization is off while collecting
// (the caller passes no activation hooks); online rotations of the model stay on.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "core/engine/forward.h"
#include "core/quant/gptq.h"
#include "core/util/progress.h"

namespace ostq {

struct GptqLinearReport {
  int64_t layer = 0;
  LinearId linear = LinearId::kQ;
  double error = 0.0;      // mean over calibration tokens of ‖x(W − Q)ᵀ‖², GPTQ weights
  double rtn_error = 0.0;  // the same for RTN weights on the same inputs
  int64_t dead_columns = 0;
  double seconds = 0.0;
  WeightQuantGrid grid;    // the grid the weight was quantized on (exports recover the codes from it)
};

// Replaces the seven linears of every layer of `model` by their GPTQ-quantized (dequantized)
// weights. calibration: int64 [N, T] windows; `batch` windows per forward. Cancellable.
std::vector<GptqLinearReport> gptq_quantize_model(Model& model, const at::Tensor& calibration,
                                                  const GptqOptions& options, int64_t batch,
                                                  const ProgressFn& progress = {});

}  // namespace ostq
