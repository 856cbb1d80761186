// SPDX-License-Identifier: Apache-2.0
// The architecture description shared by every loader, the engine and the exporters (torch-free).
#pragma once

#include <cstdint>
#include <string>

namespace ostq {

enum class Architecture { kLlama, kMistral, kQwen2 };
const char* architecture_name(Architecture a);

// How the two channels of a RoPE pair are laid out inside each head of W_q / W_k.
// The engine always runs RotateHalf (HF); llama2.c checkpoints are permuted on import.
// See FORMATS.md §5.
enum class RopeLayout { kInterleaved, kRotateHalf };

struct RopeScaling {
  enum class Type { kNone, kLlama3 } type = Type::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;

  bool operator==(const RopeScaling& o) const;
  bool operator!=(const RopeScaling& o) const { return !(*this == o); }
};

enum class SourceFormat { kLlama2cV0, kLlama2cV1, kLlama2cV2, kHuggingFace };
const char* source_format_name(SourceFormat f);

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  SourceFormat source = SourceFormat::kHuggingFace;
  int64_t dim = 0;          // d, residual width
  int64_t hidden_dim = 0;   // d_ff, SwiGLU width
  int64_t n_layers = 0;
  int64_t n_heads = 0;      // query heads
  int64_t n_kv_heads = 0;   // key/value heads (GQA when < n_heads)
  int64_t head_dim = 0;     // d_h; q width is n_heads * head_dim
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;  // context length
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;  // lm_head shares the embedding matrix
  bool qkv_bias = false;         // Qwen2
  int64_t sliding_window = 0;    // Mistral; 0 = none
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  std::string name;              // for reports

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  // Parameters of the stored model (tied embedding counted once).
  int64_t parameter_count() const;
  // Throws StatusError(invalid input) with `what` (usually the file) when the shape is inconsistent.
  void validate(const std::string& what) const;
  // One line: "llama d=64 ff=172 L=5 heads=8/4 dh=8 V=512 ctx=512".
  std::string summary() const;

  // Every field equal (round-trip checks of readers and writers).
  bool operator==(const ModelConfig& o) const;
  bool operator!=(const ModelConfig& o) const { return !(*this == o); }
};

}  // namespace ostq
