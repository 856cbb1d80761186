// SPDX-License-Identifier: Apache-2.0
// Models and transform sets shared by the learned-transform tests (tst_learn, tst_student_forms).
#pragma once

#include <torch/torch.h>

#include <memory>

#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/transforms.h"

namespace ostq_test {

// A small synthetic Qwen2-style GQA model with q/k/v biases (d 64, FFN 176, 8 heads on 2 KV heads).
inline std::shared_ptr<ostq::Model> gqa_with_biases() {
  ostq::SynthOptions o;
  o.arch = ostq::Architecture::kQwen2;
  o.dim = 64;
  o.hidden_dim = 176;
  o.n_layers = 2;
  o.n_heads = 8;
  o.n_kv_heads = 2;
  o.vocab_size = 300;
  o.max_seq_len = 64;
  o.seed = 5;
  return ostq::synth_model(o);
}

// Random orthogonal rotations (H_ff and H_dh on) and scales exp(0.3·N(0,1)) on every transform.
inline ostq::TransformSet random_init(const ostq::ModelConfig& c, uint64_t seed) {
  ostq::TransformSet t = ostq::transform_set_random_hadamard(c, seed, /*qk_hadamard=*/true);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto scale = [&](int64_t n) { return torch::exp(0.3 * torch::randn({n}, gen, torch::kDouble)); };
  for (ostq::LayerTransforms& l : t.layers) {
    l.s_attn = scale(c.dim);
    l.s_ffn = scale(c.dim);
    l.s_ov = scale(c.n_kv_heads * c.head_dim);
    l.s_qk = scale(c.n_kv_heads * c.head_dim / 2);
    l.s_up_down = scale(c.hidden_dim);
  }
  return t;
}

}  // namespace ostq_test
