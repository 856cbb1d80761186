// SPDX-License-Identifier: Apache-2.0
// LLaMA forward pass. See forward.h for the sites and shapes.
#include "core/engine/forward.h"

#include <torch/types.h>

#include <cmath>

#include "core/quant/hadamard.h"
#include "core/util/status.h"

namespace ostq {

const char* site_name(Site site) {
  switch (site) {
    case Site::kAttnInput: return "attn_input";
    case Site::kKeyRope: return "key_rope";
    case Site::kValue: return "value";
    case Site::kOProjInput: return "o_proj_input";
    case Site::kResidualMid: return "residual_mid";
    case Site::kFfnInput: return "ffn_input";
    case Site::kDownProjInput: return "down_proj_input";
    case Site::kResidualOut: return "residual_out";
  }
  return "?";
}

const char* linear_name(LinearId id) {
  switch (id) {
    case LinearId::kQ: return "q_proj";
    case LinearId::kK: return "k_proj";
    case LinearId::kV: return "v_proj";
    case LinearId::kO: return "o_proj";
    case LinearId::kGate: return "gate_proj";
    case LinearId::kUp: return "up_proj";
    case LinearId::kDown: return "down_proj";
  }
  return "?";
}

at::Tensor& linear_weight(LayerWeights& l, LinearId id) {
  switch (id) {
    case LinearId::kQ: return l.wq;
    case LinearId::kK: return l.wk;
    case LinearId::kV: return l.wv;
    case LinearId::kO: return l.wo;
    case LinearId::kGate: return l.w_gate;
    case LinearId::kUp: return l.w_up;
    case LinearId::kDown: return l.w_down;
  }
  throw StatusError(Status::internal("unknown linear"));
}

const at::Tensor& linear_weight(const LayerWeights& l, LinearId id) {
  return linear_weight(const_cast<LayerWeights&>(l), id);
}

void ForwardHooks::on_site(int64_t, Site, at::Tensor&) {}

at::Tensor ForwardHooks::linear(int64_t, LinearId, const at::Tensor& x, const at::Tensor& w,
                                const at::Tensor& b) {
  return at::linear(x, w, b);
}

KvCache kv_cache_create(const Model& model, int64_t batch, int64_t capacity) {
  const ModelConfig& c = model.config;
  KvCache cache;
  cache.capacity = capacity;
  auto opts = at::TensorOptions().dtype(model.dtype);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    cache.k.push_back(torch::zeros({batch, c.n_kv_heads, capacity, c.head_dim}, opts));
    cache.v.push_back(torch::zeros({batch, c.n_kv_heads, capacity, c.head_dim}, opts));
  }
  return cache;
}

void check_token_ids(const ModelConfig& c, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) {
    if (id < 0 || id >= c.vocab_size) {
      throw_invalid("token id " + std::to_string(id) + " outside the model vocabulary of " +
                    std::to_string(c.vocab_size) + " (tokenizer/model mismatch)");
    }
  }
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& gain, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (normed * gain.to(at::kFloat)).to(x.scalar_type());
}

namespace {

ForwardHooks& default_hooks() {
  static ForwardHooks hooks;
  return hooks;
}

// Additive-free causal mask for queries at positions q0 … q0+T-1 (each repeated for the g query
// heads of a KV group: rows are (g, T) flattened) over keys 0 … S-1. true = masked out.
at::Tensor causal_mask(int64_t g, int64_t T, int64_t q0, int64_t S, int64_t window) {
  at::Tensor q_pos = torch::arange(q0, q0 + T, torch::kLong).repeat({g}).view({g * T, 1});
  at::Tensor k_pos = torch::arange(0, S, torch::kLong).view({1, S});
  at::Tensor mask = k_pos > q_pos;
  if (window > 0) mask = mask.logical_or(k_pos <= q_pos - window);
  return mask;
}

// q [B, T, n_h, d_h], k/v [B, n_kv, S, d_h] → attention output [B, T, n_h * d_h].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t q0,
                     int64_t window) {
  const int64_t B = q.size(0), T = q.size(1), n_h = q.size(2), d_h = q.size(3);
  const int64_t n_kv = k.size(1), S = k.size(2), g = n_h / n_kv;
  // Query head j belongs to KV head j / g: group the g heads of each KV head without copying K/V.
  at::Tensor qg = q.view({B, T, n_kv, g, d_h}).permute({0, 2, 3, 1, 4}).reshape({B, n_kv, g * T, d_h});
  at::Tensor scores = torch::matmul(qg, k.transpose(2, 3)).mul_(1.0 / std::sqrt(static_cast<double>(d_h)));
  if (T > 1 || window > 0) {
    scores.masked_fill_(causal_mask(g, T, q0, S, window), -std::numeric_limits<float>::infinity());
  }
  at::Tensor probs = torch::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  at::Tensor out = torch::matmul(probs, v);  // [B, n_kv, g*T, d_h]
  return out.view({B, n_kv, g, T, d_h}).permute({0, 3, 1, 2, 4}).reshape({B, T, n_h * d_h});
}

}  // namespace

at::Tensor model_embed(const Model& model, const at::Tensor& tokens) {
  return torch::embedding(model.weights.embedding, tokens);
}

at::Tensor model_head(const Model& model, const at::Tensor& x) {
  at::Tensor out = rms_norm(x, model.weights.final_norm, model.config.norm_eps);
  return at::linear(out, model.weights.lm_head).to(at::kFloat);
}

at::Tensor apply_ffn_rotation(const Model& model, const at::Tensor& x) {
  if (!model.online.ffn) return x;
  if (model.online.ffn_dense.defined()) {
    return at::matmul(x.to(at::kFloat), model.online.ffn_dense).to(x.scalar_type());
  }
  if (x.requires_grad()) return hadamard_transform(x);
  at::Tensor y = x;  // a fresh activation in the forward: rotate its storage, no copy
  return hadamard_transform_(y);
}

at::Tensor decoder_layer_forward(const Model& model, int64_t li, const at::Tensor& x_in, const at::Tensor& cos,
                                 const at::Tensor& sin, int64_t start, KvCache* cache, ForwardHooks& hooks) {
  const ModelConfig& c = model.config;
  const LayerWeights& l = model.weights.layers[li];
  const int64_t B = x_in.size(0), T = x_in.size(1);
  at::Tensor h = rms_norm(x_in, l.attn_norm, c.norm_eps);
  hooks.on_site(li, Site::kAttnInput, h);
  at::Tensor q = hooks.linear(li, LinearId::kQ, h, l.wq, l.bq).view({B, T, c.n_heads, c.head_dim});
  at::Tensor k = hooks.linear(li, LinearId::kK, h, l.wk, l.bk).view({B, T, c.n_kv_heads, c.head_dim});
  at::Tensor v = hooks.linear(li, LinearId::kV, h, l.wv, l.bv).view({B, T, c.n_kv_heads, c.head_dim});
  q = rope_apply(q, cos, sin);
  k = rope_apply(k, cos, sin);
  if (model.online.qk) {  // q·kᵀ is unchanged by the common orthogonal H_dh (§3.3)
    q = hadamard_transform(q);
    k = hadamard_transform(k);
  }
  hooks.on_site(li, Site::kKeyRope, k);
  hooks.on_site(li, Site::kValue, v);

  at::Tensor k_all, v_all;  // [B, n_kv, S, d_h]
  if (cache != nullptr) {
    cache->k[li].narrow(2, start, T).copy_(k.transpose(1, 2));
    cache->v[li].narrow(2, start, T).copy_(v.transpose(1, 2));
    k_all = cache->k[li].narrow(2, 0, start + T);
    v_all = cache->v[li].narrow(2, 0, start + T);
  } else {
    k_all = k.transpose(1, 2);
    v_all = v.transpose(1, 2);
  }
  at::Tensor a = attention(q, k_all, v_all, start, c.sliding_window);
  hooks.on_site(li, Site::kOProjInput, a);
  at::Tensor x = x_in + hooks.linear(li, LinearId::kO, a, l.wo, {});
  hooks.on_site(li, Site::kResidualMid, x);

  at::Tensor f = rms_norm(x, l.ffn_norm, c.norm_eps);
  hooks.on_site(li, Site::kFfnInput, f);
  at::Tensor gate = hooks.linear(li, LinearId::kGate, f, l.w_gate, {});
  at::Tensor up = hooks.linear(li, LinearId::kUp, f, l.w_up, {});
  at::Tensor z = apply_ffn_rotation(model, torch::silu(gate) * up);
  hooks.on_site(li, Site::kDownProjInput, z);
  x = x + hooks.linear(li, LinearId::kDown, z, l.w_down, {});
  hooks.on_site(li, Site::kResidualOut, x);
  return x;
}

namespace {

// model_forward up to the final residual stream (appends to the cache when given).
at::Tensor model_forward_impl(const Model& model, const at::Tensor& tokens, const ForwardOptions& options) {
  const ModelConfig& c = model.config;
  ForwardHooks& hooks = options.hooks != nullptr ? *options.hooks : default_hooks();
  KvCache* cache = options.cache;

  if (tokens.dim() != 2 || tokens.scalar_type() != at::kLong) {
    throw StatusError(Status::internal("model_forward expects int64 tokens [B, T]"));
  }
  const int64_t T = tokens.size(1);
  const int64_t start = cache != nullptr ? cache->length : 0;
  if (T == 0) throw_invalid("model_forward: empty token sequence");
  if (start + T > c.max_seq_len) {
    throw_invalid("sequence of " + std::to_string(start + T) + " tokens exceeds the model context of " +
                  std::to_string(c.max_seq_len));
  }
  if (cache != nullptr && start + T > cache->capacity) throw_invalid("KV cache capacity exceeded");
  if (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= c.vocab_size) {
    throw_invalid("token id out of range for vocabulary size " + std::to_string(c.vocab_size));
  }

  auto [cos, sin] = rope_tables(c, start, T);
  at::Tensor x = model_embed(model, tokens);  // [B, T, d]
  for (int64_t li = 0; li < c.n_layers; ++li) {
    x = decoder_layer_forward(model, li, x, cos, sin, start, cache, hooks);
  }
  if (cache != nullptr) cache->length = start + T;
  return x;
}

}  // namespace

at::Tensor model_forward_hidden(const Model& model, const at::Tensor& tokens, ForwardHooks* hooks) {
  ForwardOptions options;
  options.hooks = hooks;
  return model_forward_impl(model, tokens, options);
}

at::Tensor model_forward(const Model& model, const at::Tensor& tokens, const ForwardOptions& options) {
  at::Tensor x = model_forward_impl(model, tokens, options);
  if (options.logits == LogitsMode::kLast) x = x.narrow(1, x.size(1) - 1, 1);
  return model_head(model, x);
}

}  // namespace ostq
