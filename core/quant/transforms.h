// SPDX-License-Identifier: Apache-2.0
// The equivalent transforms of OSTQUANT_SPEC.md §3 in the spec's exact mode, and their merge into
// the weights in fp64 (§3.5, §3.7): RMSNorm gain folding, the global residual rotation R_res,
// per-KV-head V/O rotations R_ov, the smoothing vectors S_attn, S_ffn, S_ov, S_qk (tied across
// RoPE pairs), S_up_down, and the online Hadamards H_ff (down_proj input) and H_dh (q/k).
// With quantizers off, a merged model computes the same logits as the original (tested).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/model/model.h"

namespace ostq {

// Per decoder layer; an undefined tensor (or empty r_ov) is the identity. All fp64.
struct LayerTransforms {
  std::vector<at::Tensor> r_ov;  // n_kv × [d_h, d_h] orthogonal: V space of KV head h
  at::Tensor s_attn;             // [d]        attention-norm output ↔ q, k, v input columns
  at::Tensor s_ffn;              // [d]        FFN-norm output ↔ gate, up input columns
  at::Tensor s_ov;               // [n_kv·d_h] v output channels ↔ o input channels
  at::Tensor s_qk;               // [n_kv·d_h/2] free values, expanded to both channels of a RoPE pair
  at::Tensor s_up_down;          // [d_ff]     up output channels ↔ down input channels
};

struct TransformSet {
  at::Tensor r_res;                     // [d, d] orthogonal, or undefined
  std::vector<LayerTransforms> layers;  // empty or one per layer
  bool ffn_rotation = false;            // online H_ff on the down_proj input, folded into W_down
  bool qk_hadamard = false;             // online H_dh on q and k after RoPE
  uint64_t seed = 42;                   // for the random orthogonal H_ff fallback
  std::vector<std::string> notes;       // what was built and any fallback taken
  bool empty() const;
};

// An identity transform set sized for `model` (all layers present, nothing set).
TransformSet transform_set_identity(const ModelConfig& config);

// QuaRot / random-Hadamard init (§9, §4 non-WOMI): R_res = random Hadamard of order d, one
// independent random Hadamard per KV head for R_ov, H_ff on; H_dh when `qk_hadamard`. Seeded.
TransformSet transform_set_random_hadamard(const ModelConfig& config, uint64_t seed, bool qk_hadamard);

// The seed of the random Hadamard (or WOMI sign vector) of KV head `head` in `layer`: an
// independent stream per (layer, head) derived from the run's seed.
uint64_t ov_head_seed(uint64_t seed, int64_t layer, int64_t head);

// s_qk [n_kv·d_h/2] → per-channel scale of k's output rows [n_kv·d_h] (rotate_half layout:
// head h gets [s_h, s_h]).
at::Tensor expand_qk_scale(const at::Tensor& s_qk, int64_t n_kv, int64_t head_dim);
// The same scale for q's output rows [n_heads·d_h]: each KV head's [d_h] repeated over its query heads.
at::Tensor expand_qk_scale_to_queries(const at::Tensor& s_qk, int64_t n_kv, int64_t n_heads, int64_t head_dim);

// The §3.5 formulas on one layer's weights `l` (after RMSNorm folding), in whatever dtype and
// autograd state the tensors carry: fp64 without gradients for the merge, fp32 with gradients for
// the training forward (§3.8). Scales are not validated here; r_ov entries may repeat one tensor
// (SpinQuant's R2 shared by all heads). Sets the norm gains to 1/s. `online.ffn` folds H_ff.
void apply_layer_transforms(const ModelConfig& config, const LayerTransforms& transforms, const at::Tensor& r_res,
                            const OnlineRotations& online, LayerWeights& l);

// The online rotations a model needs for `t`: H_ff (a seeded dense orthogonal matrix when no
// Hadamard of order d_ff exists) and H_dh. Throws unsupported when H_dh has no Hadamard order.
OnlineRotations online_rotations(const ModelConfig& config, const TransformSet& t);

// §3.2: the seven linears and biases of `src` with the RMSNorm gains folded into the readers'
// input columns (computed in fp64, returned as `dtype`). Norm gains are left undefined.
LayerWeights fold_norm_gains(const LayerWeights& src, at::ScalarType dtype);

// A new model (same dtype as `model`, untied lm_head) with every transform merged in fp64.
// `model` must be the unquantized original with online rotations off. Throws StatusError
// (invalid) on shape mismatches and when a scale is not finite and positive.
std::shared_ptr<Model> merge_transforms(const Model& model, const TransformSet& transforms);

}  // namespace ostq
