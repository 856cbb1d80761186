// SPDX-License-Identifier: Apache-2.0
#include "core/calib/trainable.h"

#include <torch/types.h>

#include "core/calib/rotated_fake_quant.h"
#include "core/quant/hadamard.h"
#include "core/util/status.h"

namespace ostq {

namespace {

at::Tensor fp32_leaf(const at::Tensor& t) { return t.detach().to(at::kFloat).clone().contiguous().requires_grad_(true); }

at::Tensor f64(const at::Tensor& t) { return t.defined() ? t.detach().to(at::kDouble).clone() : at::Tensor(); }

// kWeights: activation fake-quant (STE) at the sites of `config`, plus weight fake-quant (STE,
// grid from the MSE clip search under no-grad) when asked (§7.1, §12: W4A16 runs).
class WeightFormHooks : public ActivationQuantHooks {
 public:
  WeightFormHooks(const QuantConfig& config, bool weight_fake_quant)
      : ActivationQuantHooks(config, /*ste=*/true), weight_(config.weight), weight_fake_quant_(weight_fake_quant) {}
  at::Tensor linear(int64_t, LinearId, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) override {
    if (!weight_fake_quant_ || !weight_.enabled()) return at::linear(x, w, b);
    return at::linear(x, fake_quant_weight(w, weight_, /*ste=*/true), b);
  }

 private:
  WeightQuantSpec weight_;
  bool weight_fake_quant_;
};

// kActivations: the §3.4 transforms on the activations around the gain-folded original weights,
// with the fake quantizers (STE) in the transformed bases:
//   q/k/v and gate/up inputs   a → Q(a·R·D(1/σ))·D(σ)·Rᵀ           (rotated_fake_quant)
//   q, k outputs               ⊘ s_q, ⊙ s_k (before RoPE; H_dh after it is the forward's)
//   v output, per KV head      v_h·D(1/s_h)·R_h; the V quantizer and attention run in that basis
//   o input, per query head    Q(a'_j)·R_hᵀ·D(s_h)
//   up output                  ⊘ s_ud; the down input is z' = (z ⊘ s_ud)·M (the forward's H_ff)
//   down input                 Q(z')·Mᵀ ⊙ s_ud
// Each line equals the §3.5 merged weight acting on the quantized value.
class ActivationFormHooks : public ForwardHooks {
 public:
  ActivationFormHooks(const ModelConfig& c, const QuantConfig& q, const std::vector<LayerTransforms>& layers,
                      const at::Tensor& r_res, const OnlineRotations& online)
      : c_(c), q_(q), layers_(layers), r_res_(r_res), online_(online) {}

  void on_site(int64_t li, Site site, at::Tensor& x) override {
    const LayerTransforms& t = layers_[li];
    const ActQuantSpec& spec = q_.site(site);
    switch (site) {
      case Site::kAttnInput: x = reader(x, t.s_attn, spec); break;
      case Site::kFfnInput: x = reader(x, t.s_ffn, spec); break;
      case Site::kKeyRope:
      case Site::kValue: x = fake_quant_activation(x, spec, /*ste=*/true); break;
      case Site::kOProjInput: x = ov_back(fake_quant_activation(x, spec, /*ste=*/true), t); break;
      case Site::kDownProjInput: x = down_back(fake_quant_activation(x, spec, /*ste=*/true), t); break;
      default: break;
    }
  }

  at::Tensor linear(int64_t li, LinearId id, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) override {
    const LayerTransforms& t = layers_[li];
    at::Tensor y = at::linear(x, w, b);
    switch (id) {
      case LinearId::kQ: return t.s_qk.defined() ? y / q_scale(t) : y;
      case LinearId::kK: return t.s_qk.defined() ? y * k_scale(t) : y;
      case LinearId::kV: return ov_forward(y, t);
      case LinearId::kUp: return t.s_up_down.defined() ? y / t.s_up_down : y;
      default: return y;
    }
  }

 private:
  at::Tensor reader(const at::Tensor& x, const at::Tensor& sigma, const ActQuantSpec& spec) const {
    if (!spec.enabled()) return x;  // R_res and σ cancel exactly without a quantizer between them
    return spec.group_size == 0 ? rotated_fake_quant(x, r_res_, sigma, spec)
                                : rotated_fake_quant_reference(x, r_res_, sigma, spec);
  }
  at::Tensor k_scale(const LayerTransforms& t) const { return expand_qk_scale(t.s_qk, c_.n_kv_heads, c_.head_dim); }
  at::Tensor q_scale(const LayerTransforms& t) const {
    return expand_qk_scale_to_queries(t.s_qk, c_.n_kv_heads, c_.n_heads, c_.head_dim);
  }
  // R_h stacked [n_kv, d_h, d_h] (SpinQuant's shared R2: the same tensor n_kv times).
  at::Tensor r_ov_stack(const LayerTransforms& t) const { return t.r_ov.empty() ? at::Tensor() : at::stack(t.r_ov); }

  // y [B, T, n_kv·d_h] → per KV head y_h·D(1/s_h)·R_h, same shape.
  at::Tensor ov_forward(const at::Tensor& y, const LayerTransforms& t) const {
    const int64_t n_kv = c_.n_kv_heads, d_h = c_.head_dim;
    at::Tensor heads = y.reshape({-1, n_kv, d_h});  // [BT, n_kv, d_h]
    if (t.s_ov.defined()) heads = heads / t.s_ov.view({n_kv, d_h});
    if (!t.r_ov.empty()) heads = at::bmm(heads.transpose(0, 1), r_ov_stack(t)).transpose(0, 1);
    return heads.reshape(y.sizes());
  }
  // a' [B, T, n_h·d_h] → per query head j (KV head h = j / g) a'_j·R_hᵀ·D(s_h), same shape.
  at::Tensor ov_back(const at::Tensor& a, const LayerTransforms& t) const {
    const int64_t n_kv = c_.n_kv_heads, d_h = c_.head_dim, g = c_.n_heads / n_kv;
    at::Tensor heads = a.reshape({-1, n_kv, g * d_h}).transpose(0, 1).reshape({n_kv, -1, d_h});  // [n_kv, BT·g, d_h]
    if (!t.r_ov.empty()) heads = at::bmm(heads, r_ov_stack(t).transpose(1, 2));
    if (t.s_ov.defined()) heads = heads * t.s_ov.view({n_kv, 1, d_h});
    return heads.reshape({n_kv, -1, g * d_h}).transpose(0, 1).reshape(a.sizes());
  }
  // z' [B, T, d_ff] → z'·Mᵀ ⊙ s_ud (undoing the forward's H_ff, then the up/down scale).
  at::Tensor down_back(const at::Tensor& z, const LayerTransforms& t) const {
    at::Tensor back = z;
    if (online_.ffn) {
      back = online_.ffn_dense.defined() ? at::matmul(z, online_.ffn_dense.t()) : hadamard_transform_inverse(z);
    }
    return t.s_up_down.defined() ? back * t.s_up_down : back;
  }

  const ModelConfig& c_;
  const QuantConfig& q_;
  const std::vector<LayerTransforms>& layers_;
  const at::Tensor& r_res_;
  const OnlineRotations& online_;
};

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
    : fp_(fp), quantizers_(spec.quantizers), weight_fake_quant_(spec.weight_fake_quant && spec.quantizers.weight.enabled()) {
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
  form_ = spec.form != StudentForm::kAuto ? spec.form
                                          : (weight_fake_quant_ ? StudentForm::kWeights : StudentForm::kActivations);
  if (form_ == StudentForm::kActivations && weight_fake_quant_) {
    throw_invalid("the activation-form student cannot fake-quantize weights (it never builds the merged weights)");
  }

  at::NoGradGuard no_grad;
  for (const LayerWeights& src : fp.weights.layers) folded_.push_back(fold_norm_gains(src, at::kFloat));
  if (form_ == StudentForm::kActivations) {  // shares folded_'s storage; unit gains (already folded)
    activation_student_.config = c;
    activation_student_.dtype = at::kFloat;
    activation_student_.online = online_;
    activation_student_.weights.layers = folded_;
    for (LayerWeights& l : activation_student_.weights.layers) {
      l.attn_norm = at::ones({c.dim}, at::kFloat);
      l.ffn_norm = at::ones({c.dim}, at::kFloat);
    }
  }
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

at::Tensor TrainableTransforms::student_hidden(const at::Tensor& tokens) const {
  return form_ == StudentForm::kActivations ? student_hidden_activations(tokens) : student_hidden_weights(tokens);
}

at::Tensor TrainableTransforms::student_hidden_weights(const at::Tensor& tokens) const {
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
  WeightFormHooks hooks(quantizers_, weight_fake_quant_);
  at::Tensor x = at::matmul(model_embed(fp_, tokens).to(at::kFloat), r_res_);  // e·R_res on the fly
  for (int64_t li = 0; li < c.n_layers; ++li) {
    LayerWeights l = folded_[li];
    apply_layer_transforms(c, layers_[li], r_res_, online_, l);
    student.weights.layers[li] = std::move(l);
    x = decoder_layer_forward(student, li, x, cos, sin, 0, nullptr, hooks);
  }
  return x;
}

at::Tensor TrainableTransforms::student_hidden_activations(const at::Tensor& tokens) const {
  const ModelConfig& c = fp_.config;
  auto [cos, sin] = rope_tables(c, 0, tokens.size(1));
  ActivationFormHooks hooks(c, quantizers_, layers_, r_res_, online_);
  at::Tensor x = model_embed(fp_, tokens).to(at::kFloat);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    x = decoder_layer_forward(activation_student_, li, x, cos, sin, 0, nullptr, hooks);
  }
  return x;
}

at::Tensor TrainableTransforms::head(const at::Tensor& x) const {
  return at::linear(rms_norm(x, final_norm_, fp_.config.norm_eps), lm_head_);
}

at::Tensor TrainableTransforms::student_logits(const at::Tensor& hidden) const {
  return head(form_ == StudentForm::kActivations ? hidden : at::matmul(hidden, r_res_.t()));
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
