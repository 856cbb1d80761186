// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: config.json parsing must never crash, and every config it accepts must survive
// hf_config_to_json → hf_config_parse unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/io/hf_config.h"
#include "core/util/status.h"

namespace {

bool same(const ostq::ModelConfig& a, const ostq::ModelConfig& b) {
  return a.arch == b.arch && a.dim == b.dim && a.hidden_dim == b.hidden_dim &&
         a.n_layers == b.n_layers && a.n_heads == b.n_heads && a.n_kv_heads == b.n_kv_heads &&
         a.head_dim == b.head_dim && a.vocab_size == b.vocab_size &&
         a.max_seq_len == b.max_seq_len && a.norm_eps == b.norm_eps &&
         a.rope_theta == b.rope_theta && a.rope_scaling.type == b.rope_scaling.type &&
         a.rope_scaling.factor == b.rope_scaling.factor &&
         a.rope_scaling.low_freq_factor == b.rope_scaling.low_freq_factor &&
         a.rope_scaling.high_freq_factor == b.rope_scaling.high_freq_factor &&
         a.rope_scaling.original_max_position_embeddings ==
             b.rope_scaling.original_max_position_embeddings &&
         a.tied_embeddings == b.tied_embeddings && a.qkv_bias == b.qkv_bias &&
         a.sliding_window == b.sliding_window && a.bos_id == b.bos_id && a.eos_id == b.eos_id &&
         a.name == b.name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ostq::ModelConfig config;
  try {
    config = ostq::hf_config_parse(text, "fuzz/config.json");
  } catch (const ostq::StatusError&) {
    return 0;
  }
  // Anything accepted must be writable and read back identically; a failure here is a bug.
  try {
    const std::string json = ostq::hf_config_to_json(config, ostq::DType::kBF16);
    const ostq::ModelConfig back = ostq::hf_config_parse(json, "fuzz/config.json");
    if (!same(config, back)) __builtin_trap();
  } catch (const ostq::StatusError&) {
    __builtin_trap();
  }
  return 0;
}
