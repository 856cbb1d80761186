// SPDX-License-Identifier: Apache-2.0
// Synthetic LLaMA-family models of any shape with seeded random weights, for shapes larger than
// the real checkpoints available (e.g. the stories110M shape) and for planted outliers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/model/model.h"

namespace ostq {

struct SynthOptions {
  Architecture arch = Architecture::kLlama;
  int64_t dim = 288;
  int64_t hidden_dim = 0;     // 0: LLaMA rule, multiple of 32 near 8/3·dim
  int64_t n_layers = 6;
  int64_t n_heads = 6;
  int64_t n_kv_heads = 0;     // 0: = n_heads
  int64_t vocab_size = 32000;
  int64_t max_seq_len = 2048;
  bool qkv_bias = false;      // forced on for qwen2
  bool tied_embeddings = false;
  double rope_theta = 10000.0;
  // Planted outliers: `outliers` residual channels get RMSNorm gains × outlier_scale with the
  // consuming q/k/v and gate/up input columns ÷ outlier_scale, and as many FFN channels get
  // up rows × scale with down columns ÷ scale. outlier_scale must be a power of two, so both
  // products are exact in binary floating point and the FP outputs are bit-identical.
  int64_t outliers = 0;
  double outlier_scale = 32.0;
  uint64_t seed = 42;
};

// Throws StatusError(invalid) for inconsistent shapes or a non-power-of-two outlier scale.
std::shared_ptr<Model> synth_model(const SynthOptions& options);

// Applies the planted outliers of SynthOptions to an existing model (same exactness guarantee).
void plant_outliers(Model& model, int64_t outliers, double scale, uint64_t seed);

}  // namespace ostq
