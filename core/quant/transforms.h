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

// s_qk [n_kv·d_h/2] → per-channel scale of k's output rows [n_kv·d_h] (rotate_half layout:
// head h gets [s_h, s_h]).
at::Tensor expand_qk_scale(const at::Tensor& s_qk, int64_t n_kv, int64_t head_dim);

// A new model (same dtype as `model`, untied lm_head) with every transform merged in fp64.
// `model` must be the unquantized original with online rotations off. Throws StatusError
// (invalid) on shape mismatches and when a scale is not finite and positive.
std::shared_ptr<Model> merge_transforms(const Model& model, const TransformSet& transforms);

}  // namespace ostq
