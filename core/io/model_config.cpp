// SPDX-License-Identifier: Apache-2.0
#include "core/io/model_config.h"

#include <sstream>

#include "core/util/status.h"

namespace ostq {

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return "llama";
    case Architecture::kMistral: return "mistral";
    case Architecture::kQwen2: return "qwen2";
  }
  return "?";
}

const char* source_format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kLlama2cV0: return "llama2.c v0";
    case SourceFormat::kLlama2cV1: return "llama2.c v1 (fp32)";
    case SourceFormat::kLlama2cV2: return "llama2.c v2 (Q8_0)";
    case SourceFormat::kHuggingFace: return "hugging face";
  }
  return "?";
}

bool RopeScaling::operator==(const RopeScaling& o) const {
  return type == o.type && factor == o.factor && low_freq_factor == o.low_freq_factor &&
         high_freq_factor == o.high_freq_factor &&
         original_max_position_embeddings == o.original_max_position_embeddings;
}

bool ModelConfig::operator==(const ModelConfig& o) const {
  return arch == o.arch && source == o.source && dim == o.dim && hidden_dim == o.hidden_dim &&
         n_layers == o.n_layers && n_heads == o.n_heads && n_kv_heads == o.n_kv_heads &&
         head_dim == o.head_dim && vocab_size == o.vocab_size && max_seq_len == o.max_seq_len &&
         norm_eps == o.norm_eps && rope_theta == o.rope_theta && rope_scaling == o.rope_scaling &&
         tied_embeddings == o.tied_embeddings && qkv_bias == o.qkv_bias &&
         sliding_window == o.sliding_window && bos_id == o.bos_id && eos_id == o.eos_id && name == o.name;
}

int64_t ModelConfig::parameter_count() const {
  int64_t per_layer = 2 * dim + dim * q_dim() + 2 * kv_dim() * dim + q_dim() * dim +
                      3 * dim * hidden_dim + (qkv_bias ? q_dim() + 2 * kv_dim() : 0);
  return vocab_size * dim * (tied_embeddings ? 1 : 2) + n_layers * per_layer + dim;
}

void ModelConfig::validate(const std::string& what) const {
  auto fail = [&](const std::string& m) { throw_invalid(what + ": " + m); };
  if (dim <= 0 || hidden_dim <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv_heads <= 0 ||
      head_dim <= 0 || vocab_size <= 0 || max_seq_len <= 0) {
    fail("model dimensions must be positive (" + summary() + ")");
  }
  constexpr int64_t kLimit = int64_t{1} << 20;
  if (dim > kLimit || hidden_dim > kLimit || n_layers > 4096 || n_heads > 4096 ||
      vocab_size > (int64_t{1} << 22) || max_seq_len > (int64_t{1} << 24) || head_dim > 4096) {
    fail("model dimensions are implausibly large (" + summary() + ")");
  }
  if (n_heads % n_kv_heads != 0) {
    fail("n_heads (" + std::to_string(n_heads) + ") is not a multiple of n_kv_heads (" +
         std::to_string(n_kv_heads) + ")");
  }
  if (head_dim % 2 != 0) fail("head_dim must be even for RoPE, got " + std::to_string(head_dim));
  if (!(norm_eps > 0) || !(rope_theta > 0)) fail("rms_norm_eps and rope_theta must be positive");
}

std::string ModelConfig::summary() const {
  std::ostringstream s;
  s << architecture_name(arch) << " d=" << dim << " ff=" << hidden_dim << " L=" << n_layers
    << " heads=" << n_heads << "/" << n_kv_heads << " dh=" << head_dim << " V=" << vocab_size
    << " ctx=" << max_seq_len;
  if (qkv_bias) s << " qkv-bias";
  if (tied_embeddings) s << " tied";
  return s.str();
}

}  // namespace ostq
