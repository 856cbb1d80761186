// SPDX-License-Identifier: Apache-2.0
// Runs a model one decoder layer at a time over a fixed set of windows, keeping every window's
// residual stream between layers. Used where a layer must be seen whole before the next one
// runs: GPTQ's sequential quantization (inputs from the partially quantized model) and the
// per-layer activation capture that streams results to the GUI layer by layer.
#pragma once

#include <ATen/core/Tensor.h>

#include "core/engine/forward.h"

namespace ostq {

class LayerwiseRunner {
 public:
  // Thrown by an observing hook once it has seen what it needs: observe() skips the rest of the
  // layer for that batch of windows (GPTQ needs only the inputs of the next linear group).
  struct StopLayer {};

  // tokens [N, T] int64 (N windows of T tokens from position 0); `batch` windows per forward.
  LayerwiseRunner(const Model& model, const at::Tensor& tokens, int64_t batch);

  int64_t next_layer() const { return layer_; }
  int64_t windows() const { return states_.size(0); }
  int64_t tokens_per_window() const { return states_.size(1); }

  // Runs layer next_layer() over every window with `hooks`, discarding the outputs: for hooks
  // that only observe (and may throw StopLayer) (e.g. collect GPTQ Hessians). The model's weights may change between calls.
  void observe(ForwardHooks& hooks);
  // Runs layer next_layer() over every window and keeps its outputs as the next layer's inputs.
  void advance(ForwardHooks& hooks);
  // Logits of windows [first, first + count) after the last layer: fp32 [count, T, V].
  at::Tensor logits(int64_t first, int64_t count) const;

 private:
  void run(ForwardHooks& hooks, bool keep);
  const Model& model_;
  at::Tensor states_;  // [N, T, d] residual stream entering layer_ (model dtype)
  at::Tensor cos_, sin_;
  int64_t batch_ = 1;
  int64_t layer_ = 0;
};

}  // namespace ostq
