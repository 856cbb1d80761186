// SPDX-License-Identifier: Apache-2.0
#include "core/model/model.h"

#include <torch/types.h>

#include "core/export/gguf_export.h"
#include "core/export/packed_hf_load.h"
#include "core/model/hf_loader.h"
#include "core/model/llama2c_loader.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"

namespace ostq {

const char* compute_dtype_name(ComputeDType d) {
  return d == ComputeDType::kBFloat16 ? "bf16" : "fp32";
}

Result<ComputeDType> compute_dtype_parse(const std::string& name) {
  if (name == "fp32" || name == "float32") return ComputeDType::kFloat32;
  if (name == "bf16" || name == "bfloat16") return ComputeDType::kBFloat16;
  return Status::invalid_input("unknown dtype '" + name + "' (expected fp32 or bf16)");
}

Result<std::shared_ptr<Model>> model_load(const std::string& path, const LoadOptions& options) {
  return status_guard([&]() -> std::shared_ptr<Model> {
    std::shared_ptr<Model> model;
    // Packed exports (GPTQ, compressed-tensors, GGUF) load dequantized, so `ostq eval` and every
    // other command read them like any model.
    if (is_directory(path)) {
      model = is_packed_hf_dir(path) ? packed_hf_load(path) : hf_load(path, options.dtype);
    } else if (file_exists(path)) {
      model = is_gguf_file(path) ? gguf_load(path) : llama2c_load(path);
    } else {
      throw_io(path + ": no such file or directory");
    }
    model_validate_weights(*model, path);
    model_to_dtype(*model, options.dtype);
    return model;
  });
}

at::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kF64: return at::kDouble;
    default: return at::ScalarType::Undefined;
  }
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void model_validate_weights(const Model& model, const std::string& what) {
  const ModelConfig& c = model.config;
  auto expect = [&](const at::Tensor& t, std::vector<int64_t> shape, const std::string& name) {
    if (!t.defined()) throw_invalid(what + ": missing tensor " + name);
    if (!t.isfinite().all().item<bool>()) throw_invalid(what + ": tensor " + name + " contains NaN or Inf");
    if (t.sizes().vec() != shape) {
      throw_invalid(what + ": tensor " + name + " has shape " + shape_to_string(t.sizes().vec()) +
                    ", config expects " + shape_to_string(shape));
    }
  };
  const ModelWeights& w = model.weights;
  expect(w.embedding, {c.vocab_size, c.dim}, "embedding");
  expect(w.final_norm, {c.dim}, "final_norm");
  expect(w.lm_head, {c.vocab_size, c.dim}, "lm_head");
  if (static_cast<int64_t>(w.layers.size()) != c.n_layers) throw_invalid(what + ": wrong layer count");
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const LayerWeights& l = w.layers[i];
    std::string p = "layers." + std::to_string(i) + ".";
    expect(l.attn_norm, {c.dim}, p + "attn_norm");
    expect(l.wq, {c.q_dim(), c.dim}, p + "wq");
    expect(l.wk, {c.kv_dim(), c.dim}, p + "wk");
    expect(l.wv, {c.kv_dim(), c.dim}, p + "wv");
    expect(l.wo, {c.dim, c.q_dim()}, p + "wo");
    expect(l.ffn_norm, {c.dim}, p + "ffn_norm");
    expect(l.w_gate, {c.hidden_dim, c.dim}, p + "w_gate");
    expect(l.w_up, {c.hidden_dim, c.dim}, p + "w_up");
    expect(l.w_down, {c.dim, c.hidden_dim}, p + "w_down");
    if (c.qkv_bias) {
      expect(l.bq, {c.q_dim()}, p + "bq");
      expect(l.bk, {c.kv_dim()}, p + "bk");
      expect(l.bv, {c.kv_dim()}, p + "bv");
    }
  }
}

Status model_check_tokenizer(const Model& model, const Tokenizer& tokenizer, const std::string& tokenizer_path) {
  if (tokenizer.vocab_size() != model.config.vocab_size) {
    return Status::invalid_input(tokenizer_path + ": tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                                 " tokens but the model's vocabulary has " +
                                 std::to_string(model.config.vocab_size) + " (tokenizer/model mismatch)");
  }
  return Status::ok();
}

void model_to_dtype(Model& model, ComputeDType dtype) {
  const at::ScalarType target = dtype == ComputeDType::kBFloat16 ? at::kBFloat16 : at::kFloat;
  auto conv = [&](at::Tensor& t) {
    if (t.defined() && t.scalar_type() != target) t = t.to(target);
  };
  ModelWeights& w = model.weights;
  const bool tied = w.lm_head.is_same(w.embedding);
  conv(w.embedding);
  if (tied) {
    w.lm_head = w.embedding;
  } else {
    conv(w.lm_head);
  }
  for (auto& l : w.layers) {
    for (at::Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.w_gate, &l.w_up, &l.w_down}) {
      conv(*t);
    }
  }
  model.dtype = target;
}

at::Tensor rope_permute_rows(const at::Tensor& w, int64_t n_heads, int64_t head_dim, RopeLayout from,
                             RopeLayout to) {
  if (from == to) return w;
  std::vector<int64_t> rest(w.sizes().begin() + 1, w.sizes().end());
  std::vector<int64_t> shape{n_heads};
  // Interleaved rows per head are (d_h/2, 2); rotate_half rows are (2, d_h/2).
  if (from == RopeLayout::kInterleaved) {
    shape.insert(shape.end(), {head_dim / 2, 2});
  } else {
    shape.insert(shape.end(), {2, head_dim / 2});
  }
  shape.insert(shape.end(), rest.begin(), rest.end());
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

}  // namespace ostq
