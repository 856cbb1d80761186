// SPDX-License-Identifier: Apache-2.0
// An in-memory LLaMA-family model: the config plus its weights as tensors, in the engine's one
// convention (PyTorch [out][in] orientation, RoPE rotate_half layout, see FORMATS.md §5).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/io/dtype.h"
#include "core/io/model_config.h"
#include "core/util/status.h"

namespace ostq {

struct LayerWeights {
  at::Tensor attn_norm;          // [d]
  at::Tensor wq, wk, wv, wo;     // [q_dim, d], [kv_dim, d], [kv_dim, d], [d, q_dim]
  at::Tensor bq, bk, bv;         // [q_dim], [kv_dim], [kv_dim] or undefined
  at::Tensor ffn_norm;           // [d]
  at::Tensor w_gate, w_up;       // [ff, d]
  at::Tensor w_down;             // [d, ff]
};

struct ModelWeights {
  at::Tensor embedding;   // [V, d]
  std::vector<LayerWeights> layers;
  at::Tensor final_norm;  // [d]
  at::Tensor lm_head;     // [V, d]; the same tensor as `embedding` when tied
};

// Rotations the deployed model applies at run time (OSTQUANT_SPEC.md §3.3); the weights that
// read the rotated activations hold the matching fold. Off for a model as loaded.
struct OnlineRotations {
  bool ffn = false;       // down_proj input z ← z·M (M = H_ff / sqrt(d_ff)); W_down holds W_down·M
  at::Tensor ffn_dense;   // [d_ff, d_ff] fp32 M when no Hadamard of order d_ff exists; else undefined
  bool qk = false;        // q, k ← ·H_dh / sqrt(d_h) per head after RoPE (for a quantized K-cache)
};

struct Model {
  ModelConfig config;
  ModelWeights weights;
  OnlineRotations online;
  std::string path;                      // where it was loaded from
  at::ScalarType dtype = at::kFloat;     // compute dtype of the weights (fp32 or bf16)
  std::vector<std::shared_ptr<void>> keep_alive;  // memory maps the weights point into
};

enum class ComputeDType { kFloat32, kBFloat16 };
const char* compute_dtype_name(ComputeDType d);
Result<ComputeDType> compute_dtype_parse(const std::string& name);  // "fp32" | "bf16"

struct LoadOptions {
  ComputeDType dtype = ComputeDType::kFloat32;
};

// Loads a llama2.c checkpoint (file) or a Hugging Face model directory. Errors name the file.
Result<std::shared_ptr<Model>> model_load(const std::string& path, const LoadOptions& options = {});

// Torch dtype of a floating-point storage dtype (F64, F32, F16, BF16); Undefined for the rest.
at::ScalarType scalar_type_of(DType dtype);

// "[64,172]": shapes in error messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

// Checks every tensor's shape against the config; throws StatusError(invalid) naming `what`.
void model_validate_weights(const Model& model, const std::string& what);

class Tokenizer;
// InvalidInput naming the tokenizer file when its vocabulary size differs from the model's.
Status model_check_tokenizer(const Model& model, const Tokenizer& tokenizer, const std::string& tokenizer_path);

// Converts weights to `dtype` (norm gains stay fp32). Unchanged when already there.
void model_to_dtype(Model& model, ComputeDType dtype);

// Reorders the rows of W_q / W_k (and q/k biases) between the RoPE pair layouts of FORMATS.md §5.
// w is [n_heads * head_dim, ...] or [n_heads * head_dim].
at::Tensor rope_permute_rows(const at::Tensor& w, int64_t n_heads, int64_t head_dim, RopeLayout from,
                             RopeLayout to);

}  // namespace ostq
