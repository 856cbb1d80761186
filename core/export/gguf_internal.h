// SPDX-License-Identifier: Apache-2.0
// Names and conventions shared by the GGUF writer (gguf_export.cpp) and reader (gguf_load.cpp).
// Not part of the public API.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/engine/forward.h"
#include "core/model/model.h"

namespace ostq::gguf_detail {

// Provenance of llama3 RoPE scaling: llama.cpp only needs rope_freqs.weight, the reader needs the
// parameters to rebuild the exact RopeScaling.
inline constexpr const char* kOstqRopeType = "ostq.rope_scaling.type";
inline constexpr const char* kOstqRopeFactor = "ostq.rope_scaling.factor";
inline constexpr const char* kOstqRopeLow = "ostq.rope_scaling.low_freq_factor";
inline constexpr const char* kOstqRopeHigh = "ostq.rope_scaling.high_freq_factor";
inline constexpr const char* kOstqRopeOrigCtx = "ostq.rope_scaling.original_context_length";

// The GGUF architecture a model is written as (FORMATS.md §5, §6.3). Qwen2 → "qwen2": q/k/v
// biases, and llama.cpp rotates qwen2 with NEOX RoPE (pairs (j, j + d_h/2), HF's rotate_half), so
// the HF converter writes W_q / W_k unpermuted. Everything else (llama, mistral) → "llama": Meta
// (interleaved) q/k rows, no biases; a mistral model reads back as llama.
struct GgufArch {
  Architecture arch;
  const char* name;      // general.architecture, also the prefix of the model keys
  RopeLayout qk_layout;  // row order of W_q / W_k (and q/k biases) in the file
  bool qkv_bias;         // blk.N.attn_{q,k,v}.bias present (required by llama.cpp)

  std::string key(const char* suffix) const { return std::string(name) + "." + suffix; }
};

inline GgufArch gguf_arch_for(Architecture a) {
  if (a == Architecture::kQwen2) return {Architecture::kQwen2, "qwen2", RopeLayout::kRotateHalf, true};
  return {Architecture::kLlama, "llama", RopeLayout::kInterleaved, false};
}

// The architecture of a general.architecture value; false when this reader does not know it.
inline bool gguf_arch_named(const std::string& name, GgufArch* out) {
  for (Architecture a : {Architecture::kLlama, Architecture::kQwen2}) {
    if (name == gguf_arch_for(a).name) {
      *out = gguf_arch_for(a);
      return true;
    }
  }
  return false;
}

// GGUF name of a linear (FORMATS.md §6.3): "attn_q", …, "ffn_down".
inline const char* gguf_linear_name(LinearId id) {
  static const char* const kNames[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  return kNames[static_cast<int>(id)];
}

// "blk.<layer>.<what>.weight"
inline std::string gguf_tensor_name(int64_t layer, const std::string& what) {
  return "blk." + std::to_string(layer) + "." + what + ".weight";
}

// "blk.<layer>.<what>.bias" (qwen2's q/k/v biases, F32)
inline std::string gguf_bias_name(int64_t layer, const std::string& what) {
  return "blk." + std::to_string(layer) + "." + what + ".bias";
}

// Rows of W_q (n_heads) / W_k (n_kv_heads) between RoPE layouts (FORMATS.md §5); any dtype, any
// trailing shape ([rows, in] codes or [rows, n_groups] grids). Other linears unchanged.
inline at::Tensor permute_qk(const at::Tensor& t, LinearId id, const ModelConfig& c, RopeLayout from, RopeLayout to) {
  if (id == LinearId::kQ) return rope_permute_rows(t, c.n_heads, c.head_dim, from, to);
  if (id == LinearId::kK) return rope_permute_rows(t, c.n_kv_heads, c.head_dim, from, to);
  return t;
}

}  // namespace ostq::gguf_detail
