// SPDX-License-Identifier: Apache-2.0
// The LLaMA forward pass (RMSNorm, RoPE rotate_half, GQA causal attention, SwiGLU, optional q/k/v
// biases) in LibTorch, with hooks at every quantization site of OSTQUANT_SPEC.md §7.2 so later
// stages can observe, transform and fake-quantize activations and replace linears without
// touching this code. Autograd-transparent: the caller chooses inference mode or not.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "core/model/model.h"

namespace ostq {

// Activation sites, in forward order within a layer. Shapes (B batch, T tokens):
enum class Site {
  kAttnInput,      // attention-norm output = q/k/v input          [B, T, d]
  kKeyRope,        // K after RoPE (what the K-cache stores)       [B, T, n_kv, d_h]
  kValue,          // V (what the V-cache stores)                  [B, T, n_kv, d_h]
  kOProjInput,     // attention output = o_proj input              [B, T, n_h * d_h]
  kResidualMid,    // residual stream after the attention add      [B, T, d]
  kFfnInput,       // FFN-norm output = gate/up input              [B, T, d]
  kDownProjInput,  // SiLU(gate) * up = down_proj input            [B, T, d_ff]
  kResidualOut,    // residual stream after the FFN add (layer out) [B, T, d]
};
constexpr int kSiteCount = 8;
const char* site_name(Site site);  // "attn_input", "key_rope", ...

enum class LinearId { kQ, kK, kV, kO, kGate, kUp, kDown };
// The seven linears of a decoder layer, in forward order.
constexpr LinearId kLinearIds[] = {LinearId::kQ,    LinearId::kK,  LinearId::kV,   LinearId::kO,
                                   LinearId::kGate, LinearId::kUp, LinearId::kDown};
const char* linear_name(LinearId id);  // "q_proj", ...
// The weight tensor [out, in] of one linear of a layer (for reading and replacing).
at::Tensor& linear_weight(LayerWeights& layer, LinearId id);
const at::Tensor& linear_weight(const LayerWeights& layer, LinearId id);

// Observe / transform / quantize activations and replace linears. Default: plain model.
class ForwardHooks {
 public:
  virtual ~ForwardHooks() = default;
  // Called at every site; may replace x (same shape) or only read it.
  virtual void on_site(int64_t layer, Site site, at::Tensor& x);
  // y = x Wᵀ + b for one of the seven linears of a layer; x [B, T, in], W [out, in] → [B, T, out].
  virtual at::Tensor linear(int64_t layer, LinearId id, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& b);
};

// Keys/values of past positions for incremental decoding. Per layer [B, n_kv, capacity, d_h].
struct KvCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;    // positions filled
  int64_t capacity = 0;
  void reset() { length = 0; }
};
KvCache kv_cache_create(const Model& model, int64_t batch, int64_t capacity);

enum class LogitsMode { kAll, kLast };

struct ForwardOptions {
  KvCache* cache = nullptr;      // append to / attend over the cache when set
  ForwardHooks* hooks = nullptr;
  LogitsMode logits = LogitsMode::kAll;
};

// tokens [B, T] int64 at positions cache->length … (or 0 without a cache) → logits fp32
// [B, T, V] (kAll) or [B, 1, V] (kLast). Throws on bad token ids or context overflow.
at::Tensor model_forward(const Model& model, const at::Tensor& tokens, const ForwardOptions& options = {});

// Embedding + every decoder layer: tokens [B, T] int64 (positions 0 … T-1, no cache) → the final
// residual stream [B, T, d] before the final norm (model dtype). model_head turns it into logits.
at::Tensor model_forward_hidden(const Model& model, const at::Tensor& tokens, ForwardHooks* hooks = nullptr);

// The pieces of model_forward, for stage-wise runners (GPTQ, activation capture) that keep the
// residual stream of many windows between layers.
// tokens [B, T] int64 → embeddings [B, T, d] (model dtype).
at::Tensor model_embed(const Model& model, const at::Tensor& tokens);
// One decoder layer on the residual stream x [B, T, d] at positions start … start+T-1, with RoPE
// tables for those positions; appends to cache when given. Returns the layer output [B, T, d].
at::Tensor decoder_layer_forward(const Model& model, int64_t layer, const at::Tensor& x, const at::Tensor& cos,
                                 const at::Tensor& sin, int64_t start, KvCache* cache, ForwardHooks& hooks);
// Final norm + lm_head: x [B, T, d] → logits fp32 [B, T, V].
at::Tensor model_head(const Model& model, const at::Tensor& x);

// x [..., d_ff] → x·M, the online down_proj rotation (identity when model.online.ffn is off).
// Outside autograd it may rotate x's own storage: pass a tensor nobody else reads.
at::Tensor apply_ffn_rotation(const Model& model, const at::Tensor& x);

// Throws StatusError(invalid) when an id is outside [0, vocab_size): the tokenizer does not
// belong to the model.
void check_token_ids(const ModelConfig& config, const std::vector<int32_t>& ids);

// RMSNorm: x / sqrt(mean(x²) + eps) · gain, computed in fp32 and returned in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& gain, double eps);

// cos / sin tables [T, d_h/2] fp32 for positions start … start+T-1 (with llama3 rope_scaling).
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& config, int64_t start, int64_t length);

// rotate_half RoPE on x [B, T, H, d_h] with tables [T, d_h/2].
at::Tensor rope_apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace ostq
