// SPDX-License-Identifier: Apache-2.0
#include "core/calib/trainable.h"

#include <torch/types.h>

#include "core/util/status.h"

namespace ostq {

namespace {

at::Tensor fp32_leaf(const at::Tensor& t) { return t.detach().to(at::kFloat).clone().contiguous().requires_grad_(true); }

at::Tensor f64(const at::Tensor& t) { return t.defined() ? t.detach().to(at::kDouble).clone() : at::Tensor(); }

}  // namespace

at::Tensor TrainableTransforms::add_rotation(const std::string& name, const at::Tensor& init) {
  at::Tensor p = fp32_leaf(init);
  rotations_.push_back(p);
  rotation_names_.push_back(name);
  return p;
}

at::Tensor TrainableTransforms::add_scale(const std::string& name, const at::Tensor& init, int64_t n) {
  at::Tensor p = fp32_leaf(init.defined() ? init : at::ones({n}, at::kDouble));
  scales_.push_back(p);
  scale_names_.push_back(name);
  return p;
}

TrainableTransforms::TrainableTransforms(const Model& fp, const TransformSet& init, const TrainableSpec& spec)
    : fp_(fp) {
  const ModelConfig& c = fp.config;
  if (fp.online.ffn || fp.online.qk) throw_invalid("learned transforms start from the original model (no online rotations)");
  if (!init.r_res.defined()) throw StatusError(Status::internal("learned transforms need an initial R_res"));
  if (static_cast<int64_t>(init.layers.size()) != c.n_layers) {
    throw StatusError(Status::internal("initial transform set has the wrong number of layers"));
  }
  flags_.ffn_rotation = init.ffn_rotation;
  flags_.qk_hadamard = init.qk_hadamard;
  flags_.seed = init.seed;
  flags_.notes = init.notes;
  online_ = online_rotations(c, init);

  at::NoGradGuard no_grad;
  for (const LayerWeights& src : fp.weights.layers) folded_.push_back(fold_norm_gains(src, at::kFloat));
  final_norm_ = fp.weights.final_norm.to(at::kFloat);
  lm_head_ = fp.weights.lm_head.to(at::kFloat);

  r_res_ = add_rotation("r_res", init.r_res);
  const int64_t n_kv = c.n_kv_heads, d_h = c.head_dim;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const LayerTransforms& lt = init.layers[li];
    const std::string prefix = "layers." + std::to_string(li) + ".";
    LayerTransforms p;
    if (static_cast<int64_t>(lt.r_ov.size()) != n_kv) {
      throw StatusError(Status::internal("initial transform set lacks R_ov for layer " + std::to_string(li)));
    }
    if (spec.shared_r_ov) {
      p.r_ov.assign(n_kv, add_rotation(prefix + "r_ov", lt.r_ov[0]));
    } else {
      for (int64_t h = 0; h < n_kv; ++h) p.r_ov.push_back(add_rotation(prefix + "r_ov." + std::to_string(h), lt.r_ov[h]));
    }
    if (spec.learn_scales) {
      p.s_attn = add_scale(prefix + "s_attn", lt.s_attn, c.dim);
      p.s_ffn = add_scale(prefix + "s_ffn", lt.s_ffn, c.dim);
      p.s_ov = add_scale(prefix + "s_ov", lt.s_ov, n_kv * d_h);
      p.s_qk = add_scale(prefix + "s_qk", lt.s_qk, n_kv * d_h / 2);
      p.s_up_down = add_scale(prefix + "s_up_down", lt.s_up_down, c.hidden_dim);
    }
    layers_.push_back(std::move(p));
  }
}

std::vector<at::Tensor> TrainableTransforms::parameters() const {
  std::vector<at::Tensor> all = rotations_;
  all.insert(all.end(), scales_.begin(), scales_.end());
  return all;
}

TensorState TrainableTransforms::state() const {
  TensorState s;
  for (size_t i = 0; i < rotations_.size(); ++i) s[rotation_names_[i]] = rotations_[i].detach().clone();
  for (size_t i = 0; i < scales_.size(); ++i) s[scale_names_[i]] = scales_[i].detach().clone();
  return s;
}

void TrainableTransforms::load_state(const TensorState& state) {
  at::NoGradGuard no_grad;
  auto load = [&](const std::vector<at::Tensor>& params, const std::vector<std::string>& names) {
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = state.find(names[i]);
      if (it == state.end()) throw_invalid("transform state lacks '" + names[i] + "'");
      if (!it->second.sizes().equals(params[i].sizes())) {
        throw_invalid("transform state '" + names[i] + "' has shape " + shape_to_string(it->second.sizes().vec()) +
                      ", expected " + shape_to_string(params[i].sizes().vec()));
      }
      params[i].copy_(it->second);
    }
  };
  load(rotations_, rotation_names_);
  load(scales_, scale_names_);
}

TransformSet TrainableTransforms::transform_set() const {
  TransformSet t = flags_;
  t.r_res = f64(r_res_);
  t.layers.resize(layers_.size());
  for (size_t li = 0; li < layers_.size(); ++li) {
    const LayerTransforms& p = layers_[li];
    LayerTransforms& l = t.layers[li];
    for (const at::Tensor& r : p.r_ov) l.r_ov.push_back(f64(r));
    l.s_attn = f64(p.s_attn);
    l.s_ffn = f64(p.s_ffn);
    l.s_ov = f64(p.s_ov);
    l.s_qk = f64(p.s_qk);
    l.s_up_down = f64(p.s_up_down);
  }
  return t;
}

at::Tensor TrainableTransforms::student_hidden(const at::Tensor& tokens, ForwardHooks& hooks) const {
  const ModelConfig& c = fp_.config;
  const int64_t T = tokens.size(1);
  auto [cos, sin] = rope_tables(c, 0, T);
  // The student model: same config, fp32, online rotations on, effective weights rebuilt from the
  // parameters on every call (each call gets its own autograd graph).
  Model student;
  student.config = c;
  student.dtype = at::kFloat;
  student.online = online_;
  student.weights.layers.resize(layers_.size());
  at::Tensor x = at::matmul(model_embed(fp_, tokens).to(at::kFloat), r_res_);  // e·R_res on the fly
  for (int64_t li = 0; li < c.n_layers; ++li) {
    LayerWeights l = folded_[li];
    apply_layer_transforms(c, layers_[li], r_res_, online_, l);
    student.weights.layers[li] = std::move(l);
    x = decoder_layer_forward(student, li, x, cos, sin, 0, nullptr, hooks);
  }
  return x;
}

at::Tensor TrainableTransforms::head(const at::Tensor& x) const {
  return at::linear(rms_norm(x, final_norm_, fp_.config.norm_eps), lm_head_);
}

at::Tensor TrainableTransforms::student_logits(const at::Tensor& hidden) const {
  return head(at::matmul(hidden, r_res_.t()));
}

at::Tensor TrainableTransforms::teacher_hidden(const at::Tensor& tokens) const {
  at::NoGradGuard no_grad;
  return model_forward_hidden(fp_, tokens).to(at::kFloat);
}

at::Tensor TrainableTransforms::teacher_logits(const at::Tensor& hidden) const {
  at::NoGradGuard no_grad;
  return head(hidden);
}

}  // namespace ostq
