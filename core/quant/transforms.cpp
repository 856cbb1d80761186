// SPDX-License-Identifier: Apache-2.0
// Exact-mode merge of OSTQUANT_SPEC.md §3.5. Every product is formed in fp64 from the weights
// after RMSNorm folding and cast to the model dtype once at the end.
#include "core/quant/transforms.h"

#include <torch/types.h>

#include "core/quant/hadamard.h"
#include "core/util/status.h"

namespace ostq {

bool TransformSet::empty() const {
  if (r_res.defined() || ffn_rotation || qk_hadamard) return false;
  for (const LayerTransforms& l : layers) {
    if (!l.r_ov.empty() || l.s_attn.defined() || l.s_ffn.defined() || l.s_ov.defined() || l.s_qk.defined() ||
        l.s_up_down.defined()) {
      return false;
    }
  }
  return true;
}

TransformSet transform_set_identity(const ModelConfig& config) {
  TransformSet t;
  t.layers.resize(static_cast<size_t>(config.n_layers));
  return t;
}

uint64_t ov_head_seed(uint64_t seed, int64_t layer, int64_t head) {
  return seed * 1000003ULL + static_cast<uint64_t>(layer * 4096 + head + 1);
}

TransformSet transform_set_random_hadamard(const ModelConfig& c, uint64_t seed, bool qk_hadamard) {
  TransformSet t = transform_set_identity(c);
  t.seed = seed;
  OrthogonalMatrix r = random_hadamard(c.dim, seed);
  t.r_res = r.matrix;
  t.notes.push_back("R_res: " + r.description);
  bool noted = false;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      OrthogonalMatrix m = random_hadamard(c.head_dim, ov_head_seed(seed, li, h));
      t.layers[li].r_ov.push_back(m.matrix);
      if (!noted) {
        t.notes.push_back("R_ov: per KV head, " + m.description + " (layer 0 head 0; others own seeds)");
        noted = true;
      }
    }
  }
  t.ffn_rotation = true;
  t.qk_hadamard = qk_hadamard;
  return t;
}

at::Tensor expand_qk_scale(const at::Tensor& s_qk, int64_t n_kv, int64_t head_dim) {
  at::Tensor half = s_qk.reshape({n_kv, 1, head_dim / 2});
  return at::cat({half, half}, 1).reshape({n_kv * head_dim});
}

at::Tensor expand_qk_scale_to_queries(const at::Tensor& s_qk, int64_t n_kv, int64_t n_heads, int64_t head_dim) {
  const int64_t g = n_heads / n_kv;
  return expand_qk_scale(s_qk, n_kv, head_dim).view({n_kv, 1, head_dim}).expand({n_kv, g, head_dim}).reshape({n_heads * head_dim});
}

namespace {

at::Tensor f64(const at::Tensor& t) { return t.to(at::kDouble).contiguous(); }

// Validates a scale vector: fp64 [n], finite, > 0. Returns it as fp64 or an undefined tensor.
at::Tensor checked_scale(const at::Tensor& s, int64_t n, const std::string& what) {
  if (!s.defined()) return {};
  if (s.dim() != 1 || s.size(0) != n) {
    throw_invalid(what + " has shape " + shape_to_string(s.sizes().vec()) + ", expected [" + std::to_string(n) + "]");
  }
  at::Tensor d = f64(s);
  if (!d.isfinite().all().item<bool>() || !(d > 0).all().item<bool>()) {
    throw_invalid(what + " must be finite and positive");
  }
  return d;
}

void check_square(const at::Tensor& r, int64_t n, const std::string& what) {
  if (r.defined() && (r.dim() != 2 || r.size(0) != n || r.size(1) != n)) {
    throw_invalid(what + " has shape " + shape_to_string(r.sizes().vec()) + ", expected [" + std::to_string(n) +
                  "," + std::to_string(n) + "]");
  }
}

// Row-scales W [out, in] by s [out] (D(s)·W).
at::Tensor scale_rows(const at::Tensor& w, const at::Tensor& s) { return s.defined() ? w * s.unsqueeze(1) : w; }
// Column-scales W [out, in] by s [in] (W·D(s)).
at::Tensor scale_cols(const at::Tensor& w, const at::Tensor& s) { return s.defined() ? w * s.unsqueeze(0) : w; }

// Validates one layer's transforms and returns them in fp64 (undefined entries stay undefined).
LayerTransforms checked_layer(const ModelConfig& c, const TransformSet& t, int64_t li) {
  const LayerTransforms& lt = t.layers.empty() ? LayerTransforms{} : t.layers[li];
  const std::string where = "layer " + std::to_string(li) + " ";
  const int64_t d_h = c.head_dim, n_kv = c.n_kv_heads;
  LayerTransforms out;
  out.s_attn = checked_scale(lt.s_attn, c.dim, where + "S_attn");
  out.s_ffn = checked_scale(lt.s_ffn, c.dim, where + "S_ffn");
  out.s_ov = checked_scale(lt.s_ov, n_kv * d_h, where + "S_ov");
  out.s_qk = checked_scale(lt.s_qk, n_kv * d_h / 2, where + "S_qk");
  out.s_up_down = checked_scale(lt.s_up_down, c.hidden_dim, where + "S_up_down");
  if (!lt.r_ov.empty() && static_cast<int64_t>(lt.r_ov.size()) != n_kv) {
    throw_invalid(where + "has " + std::to_string(lt.r_ov.size()) + " R_ov matrices, expected " + std::to_string(n_kv));
  }
  for (size_t h = 0; h < lt.r_ov.size(); ++h) {
    check_square(lt.r_ov[h], d_h, where + "R_ov[" + std::to_string(h) + "]");
    out.r_ov.push_back(f64(lt.r_ov[h]));
  }
  return out;
}

}  // namespace

void apply_layer_transforms(const ModelConfig& c, const LayerTransforms& lt, const at::Tensor& r_res,
                            const OnlineRotations& online, LayerWeights& l) {
  const int64_t d_h = c.head_dim, n_kv = c.n_kv_heads, g = c.n_heads / c.n_kv_heads;
  const auto opts = l.wv.options().requires_grad(false);

  // S_qk: k rows ·s, q rows ⊘s (s tiled over the g query heads of each KV head), before RoPE.
  if (lt.s_qk.defined()) {
    at::Tensor s_k = expand_qk_scale(lt.s_qk, n_kv, d_h);
    at::Tensor s_q = expand_qk_scale_to_queries(lt.s_qk, n_kv, c.n_heads, d_h);
    l.wk = scale_rows(l.wk, s_k);
    l.wq = scale_rows(l.wq, 1.0 / s_q);
    if (l.bk.defined()) l.bk = l.bk * s_k;
    if (l.bq.defined()) l.bq = l.bq / s_q;
  }
  // V/O per KV head h: T_h = D(1/s_h)·R_h on V space; o columns of each query head j: D(s_h)·R_h.
  if (lt.s_ov.defined() || !lt.r_ov.empty()) {
    std::vector<at::Tensor> v_blocks, bv_blocks, o_blocks;
    for (int64_t h = 0; h < n_kv; ++h) {
      at::Tensor s_h = lt.s_ov.defined() ? lt.s_ov.narrow(0, h * d_h, d_h) : at::ones({d_h}, opts);
      at::Tensor r = lt.r_ov.empty() ? at::eye(d_h, opts) : lt.r_ov[h];
      at::Tensor t_h = (1.0 / s_h).unsqueeze(1) * r;  // D(1/s_h) R_h   [d_h, d_h]
      v_blocks.push_back(at::matmul(t_h.t(), l.wv.narrow(0, h * d_h, d_h)));
      if (l.bv.defined()) bv_blocks.push_back(at::matmul(l.bv.narrow(0, h * d_h, d_h).unsqueeze(0), t_h).squeeze(0));
      at::Tensor o_side = s_h.unsqueeze(1) * r;  // D(s_h) R_h
      for (int64_t j = h * g; j < (h + 1) * g; ++j) o_blocks.push_back(at::matmul(l.wo.narrow(1, j * d_h, d_h), o_side));
    }
    l.wv = at::cat(v_blocks, 0);
    if (l.bv.defined()) l.bv = at::cat(bv_blocks, 0);
    l.wo = at::cat(o_blocks, 1);
  }
  // Up/down: W_up ← D(1/s) W_up; W_down ← W_down D(s), then the H_ff fold (after S_up_down: exact).
  if (lt.s_up_down.defined()) {
    l.w_up = scale_rows(l.w_up, 1.0 / lt.s_up_down);
    l.w_down = scale_cols(l.w_down, lt.s_up_down);
  }
  if (online.ffn) {
    l.w_down = online.ffn_dense.defined() ? at::matmul(l.w_down, online.ffn_dense.to(l.w_down.scalar_type()))
                                          : hadamard_transform(l.w_down);
  }
  // R_res: readers W·R, writers Rᵀ·W.
  if (r_res.defined()) {
    l.wq = at::matmul(l.wq, r_res);
    l.wk = at::matmul(l.wk, r_res);
    l.wv = at::matmul(l.wv, r_res);
    l.w_gate = at::matmul(l.w_gate, r_res);
    l.w_up = at::matmul(l.w_up, r_res);
    l.wo = at::matmul(r_res.t(), l.wo);
    l.w_down = at::matmul(r_res.t(), l.w_down);
  }
  // Norm scales: the quantizer sees N(h)·R·D(1/s); readers get ·D(s); deployed gain 1/s.
  l.attn_norm = lt.s_attn.defined() ? 1.0 / lt.s_attn : at::ones({c.dim}, opts);
  l.ffn_norm = lt.s_ffn.defined() ? 1.0 / lt.s_ffn : at::ones({c.dim}, opts);
  l.wq = scale_cols(l.wq, lt.s_attn);
  l.wk = scale_cols(l.wk, lt.s_attn);
  l.wv = scale_cols(l.wv, lt.s_attn);
  l.w_gate = scale_cols(l.w_gate, lt.s_ffn);
  l.w_up = scale_cols(l.w_up, lt.s_ffn);
}

LayerWeights fold_norm_gains(const LayerWeights& src, at::ScalarType dtype) {
  LayerWeights l;
  at::Tensor g_attn = f64(src.attn_norm), g_ffn = f64(src.ffn_norm);
  auto cast = [dtype](const at::Tensor& x) { return x.to(dtype).contiguous(); };
  l.wq = cast(f64(src.wq) * g_attn);
  l.wk = cast(f64(src.wk) * g_attn);
  l.wv = cast(f64(src.wv) * g_attn);
  l.w_gate = cast(f64(src.w_gate) * g_ffn);
  l.w_up = cast(f64(src.w_up) * g_ffn);
  l.wo = cast(src.wo);
  l.w_down = cast(src.w_down);
  if (src.bq.defined()) l.bq = cast(src.bq);
  if (src.bk.defined()) l.bk = cast(src.bk);
  if (src.bv.defined()) l.bv = cast(src.bv);
  return l;
}

OnlineRotations online_rotations(const ModelConfig& c, const TransformSet& t) {
  OnlineRotations online;
  online.qk = t.qk_hadamard;
  online.ffn = t.ffn_rotation;
  if (t.ffn_rotation && !hadamard_exists(c.hidden_dim)) {
    online.ffn_dense = random_orthogonal(c.hidden_dim, t.seed).to(at::kFloat);
  }
  if (t.qk_hadamard && !hadamard_exists(c.head_dim)) {
    throw_unsupported("no Hadamard matrix of order " + std::to_string(c.head_dim) + " (head dim) for the online QK rotation");
  }
  return online;
}

std::shared_ptr<Model> merge_transforms(const Model& model, const TransformSet& t) {
  const ModelConfig& c = model.config;
  if (model.online.ffn || model.online.qk) {
    throw_invalid("merge_transforms: the model already carries online rotations (merge onto the original model)");
  }
  if (!t.layers.empty() && static_cast<int64_t>(t.layers.size()) != c.n_layers) {
    throw_invalid("transform set has " + std::to_string(t.layers.size()) + " layers, the model " +
                  std::to_string(c.n_layers));
  }
  check_square(t.r_res, c.dim, "R_res");
  at::NoGradGuard no_grad;
  const at::Tensor r_res = t.r_res.defined() ? f64(t.r_res) : at::Tensor();

  auto out = std::make_shared<Model>();
  out->config = model.config;
  out->config.tied_embeddings = false;  // embedding and lm_head receive different transforms
  out->path = model.path;
  out->dtype = model.dtype;
  out->online = online_rotations(c, t);

  const ModelWeights& w = model.weights;
  ModelWeights& o = out->weights;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    // §3.2: fold the norm gains into the readers' input columns (fp64).
    LayerWeights l = fold_norm_gains(w.layers[li], at::kDouble);
    apply_layer_transforms(c, checked_layer(c, t, li), r_res, out->online, l);
    auto cast = [&](at::Tensor& x) {
      if (x.defined()) x = x.to(model.dtype).contiguous();
    };
    for (at::Tensor* x : {&l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.w_gate, &l.w_up, &l.w_down}) cast(*x);
    l.attn_norm = l.attn_norm.to(at::kFloat);  // norm gains stay fp32 (model_to_dtype convention)
    l.ffn_norm = l.ffn_norm.to(at::kFloat);
    o.layers.push_back(std::move(l));
  }
  at::Tensor emb = f64(w.embedding), head = f64(w.lm_head) * f64(w.final_norm);
  if (r_res.defined()) {
    emb = at::matmul(emb, r_res);
    head = at::matmul(head, r_res);
  }
  o.embedding = emb.to(model.dtype).contiguous();
  o.lm_head = head.to(model.dtype).contiguous();
  o.final_norm = at::ones({c.dim}, at::kFloat);
  return out;
}

}  // namespace ostq
