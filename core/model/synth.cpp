// SPDX-License-Identifier: Apache-2.0
#include "core/model/synth.h"

#include <torch/types.h>

#include <cmath>

namespace ostq {

namespace {

bool is_power_of_two(double x) {
  int exp = 0;
  return x > 0 && std::frexp(x, &exp) == 0.5;
}

// Distinct channel indices in [0, n), seeded.
at::Tensor pick_channels(int64_t n, int64_t count, at::Generator& gen) {
  return torch::randperm(n, gen, torch::kLong).narrow(0, 0, std::min(n, count));
}

// t[..., idx, ...] *= factor along `dim`, in place (t must own its memory).
void scale_slices(at::Tensor& t, int64_t dim, const at::Tensor& idx, float factor) {
  t.index_copy_(dim, idx, t.index_select(dim, idx) * factor);
}

}  // namespace

std::shared_ptr<Model> synth_model(const SynthOptions& o) {
  ModelConfig c;
  c.arch = o.arch;
  c.source = SourceFormat::kHuggingFace;
  c.dim = o.dim;
  c.hidden_dim = o.hidden_dim > 0 ? o.hidden_dim : 32 * ((8 * o.dim / 3 + 31) / 32);
  c.n_layers = o.n_layers;
  c.n_heads = o.n_heads;
  c.n_kv_heads = o.n_kv_heads > 0 ? o.n_kv_heads : o.n_heads;
  c.head_dim = o.n_heads > 0 ? o.dim / o.n_heads : 0;
  c.vocab_size = o.vocab_size;
  c.max_seq_len = o.max_seq_len;
  c.rope_theta = o.rope_theta;
  c.qkv_bias = o.qkv_bias || o.arch == Architecture::kQwen2;
  c.tied_embeddings = o.tied_embeddings;
  c.norm_eps = 1e-5;
  c.name = "synthetic";
  if (o.n_heads <= 0 || o.dim % o.n_heads != 0) throw_invalid("synth: dim must be a multiple of n_heads");
  c.validate("synth");
  if (o.outliers > 0 && !is_power_of_two(o.outlier_scale)) {
    throw_invalid("synth: --outlier-scale must be a power of two (exact compensation), got " +
                  std::to_string(o.outlier_scale));
  }

  auto model = std::make_shared<Model>();
  model->config = c;
  model->path = "synthetic";
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  auto normal = [&](std::vector<int64_t> shape, double std) {
    return torch::randn(shape, gen, torch::kFloat32).mul_(std);
  };
  // Linears ~ N(0, 1/in) keep activations O(1); gains 1 ± 0.1 so the norms are not trivial.
  auto linear = [&](int64_t out, int64_t in) { return normal({out, in}, 1.0 / std::sqrt(static_cast<double>(in))); };
  auto gain = [&](int64_t n) { return normal({n}, 0.1).add_(1.0); };

  ModelWeights& w = model->weights;
  w.embedding = normal({c.vocab_size, c.dim}, 1.0);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights l;
    l.attn_norm = gain(c.dim);
    l.wq = linear(c.q_dim(), c.dim);
    l.wk = linear(c.kv_dim(), c.dim);
    l.wv = linear(c.kv_dim(), c.dim);
    l.wo = linear(c.dim, c.q_dim()).div_(std::sqrt(2.0 * static_cast<double>(c.n_layers)));
    if (c.qkv_bias) {
      l.bq = normal({c.q_dim()}, 0.1);
      l.bk = normal({c.kv_dim()}, 0.1);
      l.bv = normal({c.kv_dim()}, 0.1);
    }
    l.ffn_norm = gain(c.dim);
    l.w_gate = linear(c.hidden_dim, c.dim);
    l.w_up = linear(c.hidden_dim, c.dim);
    l.w_down = linear(c.dim, c.hidden_dim).div_(std::sqrt(2.0 * static_cast<double>(c.n_layers)));
    w.layers.push_back(std::move(l));
  }
  w.final_norm = gain(c.dim);
  w.lm_head = c.tied_embeddings ? w.embedding : linear(c.vocab_size, c.dim);
  if (o.outliers > 0) plant_outliers(*model, o.outliers, o.outlier_scale, o.seed + 1);
  return model;
}

void plant_outliers(Model& model, int64_t outliers, double scale, uint64_t seed) {
  if (!is_power_of_two(scale)) throw_invalid("outlier scale must be a power of two");
  const ModelConfig& c = model.config;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const float s = static_cast<float>(scale);
  torch::NoGradGuard no_grad;
  for (auto& l : model.weights.layers) {
    // Residual channels: gain × s, consumer input columns ÷ s (each linear gets its own copy so
    // memory-mapped weights are never written).
    at::Tensor ch = pick_channels(c.dim, outliers, gen);
    for (at::Tensor* g : {&l.attn_norm, &l.ffn_norm}) {
      *g = g->clone();
      scale_slices(*g, 0, ch, s);
    }
    for (at::Tensor* wt : {&l.wq, &l.wk, &l.wv, &l.w_gate, &l.w_up}) {
      *wt = wt->clone();
      scale_slices(*wt, 1, ch, 1.0f / s);
    }
    // FFN channels: up rows × s, down input columns ÷ s.
    at::Tensor ff = pick_channels(c.hidden_dim, outliers, gen);
    scale_slices(l.w_up, 0, ff, s);
    l.w_down = l.w_down.clone();
    scale_slices(l.w_down, 1, ff, 1.0f / s);
  }
}

}  // namespace ostq
