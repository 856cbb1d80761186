// SPDX-License-Identifier: Apache-2.0
// Hugging Face config.json (FORMATS.md §4.2) ↔ ModelConfig for LLaMA, Mistral and Qwen2.
// Torch-free (fuzzed).
//
// Note [hf config mapping]:
//   architecture   `architectures[0]` (LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM),
//                  else `model_type` (llama / mistral / qwen2); anything else is Unsupported.
//   required       hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
//                  vocab_size, max_position_embeddings (integers).
//   defaults       num_key_value_heads → num_attention_heads; head_dim → hidden / heads;
//                  rms_norm_eps → 1e-6; rope_theta → 10000; hidden_act → silu;
//                  tie_word_embeddings → false; absent or null bos/eos id → -1 (no such token).
//   eos list       the first id of an `eos_token_id` list.
//   rope_scaling   null, rope_type "default" → none; "llama3" (factor, low_freq_factor,
//                  high_freq_factor, original_max_position_embeddings) → RopeScaling::kLlama3;
//                  any other type is Unsupported.
//   biases         Qwen2 always has q/k/v biases (qkv_bias = true). LLaMA attention_bias or
//                  mlp_bias true is Unsupported (the engine has no o_proj / MLP biases).
//   windows        Mistral sliding_window (null → 0). Qwen2 use_sliding_window true: Unsupported.
//   quantized      a `quantization_config` key (an already quantized checkpoint): Unsupported.
//   name           `_name_or_path` when a non-empty string, else the model directory's name.
// Wrong JSON types are InvalidInput naming the key; the result passes ModelConfig::validate.
#pragma once

#include <string>
#include <string_view>

#include "core/io/dtype.h"
#include "core/io/model_config.h"

namespace ostq {

// Parses config.json text. `file_name` (the path of config.json) is used in every error message
// and, when `_name_or_path` is absent, for the model name (its directory's name). Throws
// StatusError: InvalidInput for malformed or inconsistent values, Unsupported for architectures
// and features the workbench does not handle.
ModelConfig hf_config_parse(std::string_view json_text, const std::string& file_name);

// Reads and parses <dir>/config.json; the model name defaults to the directory's name.
ModelConfig hf_config_load(const std::string& dir);

// A config.json (2-space indented, trailing newline) that hf_config_parse reads back to the same
// ModelConfig (source is always kHuggingFace). `torch_dtype` is the storage dtype of the weights
// written next to it (F32, F16 or BF16).
std::string hf_config_to_json(const ModelConfig& config, DType torch_dtype = DType::kBF16);

}  // namespace ostq
