// SPDX-License-Identifier: Apache-2.0
#include "core/engine/layerwise.h"

#include <torch/types.h>

#include <algorithm>

#include "core/util/status.h"

namespace ostq {

LayerwiseRunner::LayerwiseRunner(const Model& model, const at::Tensor& tokens, int64_t batch)
    : model_(model), batch_(std::max<int64_t>(1, batch)) {
  if (tokens.dim() != 2 || tokens.scalar_type() != at::kLong || tokens.size(0) == 0) {
    throw StatusError(Status::internal("LayerwiseRunner expects int64 tokens [N, T] with N > 0"));
  }
  if (tokens.size(1) > model.config.max_seq_len) {
    throw_invalid("windows of " + std::to_string(tokens.size(1)) + " tokens exceed the model context of " +
                  std::to_string(model.config.max_seq_len));
  }
  at::NoGradGuard no_grad;
  states_ = model_embed(model, tokens);
  std::tie(cos_, sin_) = rope_tables(model.config, 0, tokens.size(1));
}

void LayerwiseRunner::run(ForwardHooks& hooks, bool keep) {
  if (layer_ >= model_.config.n_layers) throw StatusError(Status::internal("LayerwiseRunner: past the last layer"));
  at::NoGradGuard no_grad;
  const int64_t n = states_.size(0);
  for (int64_t b = 0; b < n; b += batch_) {
    const int64_t count = std::min(batch_, n - b);
    at::Tensor x = states_.narrow(0, b, count);
    if (keep) {
      x.copy_(decoder_layer_forward(model_, layer_, x, cos_, sin_, 0, nullptr, hooks));
      continue;
    }
    try {
      decoder_layer_forward(model_, layer_, x, cos_, sin_, 0, nullptr, hooks);
    } catch (const StopLayer&) {
    }
  }
  if (keep) ++layer_;
}

void LayerwiseRunner::observe(ForwardHooks& hooks) { run(hooks, false); }
void LayerwiseRunner::advance(ForwardHooks& hooks) { run(hooks, true); }

at::Tensor LayerwiseRunner::logits(int64_t first, int64_t count) const {
  if (layer_ != model_.config.n_layers) throw StatusError(Status::internal("LayerwiseRunner: layers not all run"));
  at::NoGradGuard no_grad;
  return model_head(model_, states_.narrow(0, first, count));
}

}  // namespace ostq
