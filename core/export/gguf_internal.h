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

// GGUF name of a linear (FORMATS.md §6.3): "attn_q", …, "ffn_down".
inline const char* gguf_linear_name(LinearId id) {
  static const char* const kNames[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  return kNames[static_cast<int>(id)];
}

// "blk.<layer>.<what>.weight"
inline std::string gguf_tensor_name(int64_t layer, const std::string& what) {
  return "blk." + std::to_string(layer) + "." + what + ".weight";
}

// Rows of W_q (n_heads) / W_k (n_kv_heads) between RoPE layouts (FORMATS.md §5); any dtype, any
// trailing shape ([rows, in] codes or [rows, n_groups] grids). Other linears unchanged.
inline at::Tensor permute_qk(const at::Tensor& t, LinearId id, const ModelConfig& c, RopeLayout from, RopeLayout to) {
  if (id == LinearId::kQ) return rope_permute_rows(t, c.n_heads, c.head_dim, from, to);
  if (id == LinearId::kK) return rope_permute_rows(t, c.n_kv_heads, c.head_dim, from, to);
  return t;
}

}  // namespace ostq::gguf_detail
