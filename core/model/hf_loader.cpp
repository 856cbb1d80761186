// SPDX-License-Identifier: Apache-2.0
#include "core/model/hf_loader.h"

#include <torch/types.h>

#include <cstring>

#include "core/io/hf_config.h"
#include "core/io/safetensors.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

class TensorReader {
 public:
  TensorReader(const std::string& dir, Model& model)
      : dir_(dir), model_(model), store_(SafetensorsStore::open_dir(dir)) {}

  // The tensor `name` with `shape`, as `target` (fp32 or bf16). Throws when absent or mismatched.
  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType target) {
    at::Tensor t = find(name, shape, target);
    if (!t.defined()) throw_invalid(dir_ + ": missing tensor " + name);
    return t;
  }

  // Like get(), but an undefined tensor when `name` is absent.
  at::Tensor find(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType target) {
    TensorLocation found = store_.find(name);
    if (!found) return {};
    const SafetensorsFile* file = found.file;
    const TensorInfo& info = *found.info;
    const std::string where = file->path() + ": tensor " + name;
    if (info.shape != shape) {
      throw_invalid(where + " has shape " + shape_to_string(info.shape) + ", config.json implies " +
                    shape_to_string(shape));
    }
    const at::ScalarType stored = scalar_type_of(info.dtype);
    if (stored == at::ScalarType::Undefined) {
      throw_unsupported(where + " has dtype " + dtype_name(info.dtype) + " (expected F32, F16 or BF16)");
    }
    auto* p = const_cast<uint8_t*>(file->tensor_data(info));
    const size_t elem = dtype_size(info.dtype);
    at::Tensor t;
    if (reinterpret_cast<uintptr_t>(p) % elem == 0) {
      t = torch::from_blob(p, shape, at::TensorOptions().dtype(stored));
      if (stored == target) {
        model_.keep_alive.push_back(file->mapping());
        return t;
      }
    } else {  // unaligned (some writers do not pad): copy the bytes out first
      t = torch::empty(shape, at::TensorOptions().dtype(stored));
      std::memcpy(t.data_ptr(), p, info.nbytes);
    }
    return t.to(target);  // fp16 / bf16 / fp64 → compute dtype (a copy)
  }

  std::vector<std::string> names() const { return store_.names(); }

 private:
  std::string dir_;
  Model& model_;
  SafetensorsStore store_;
};

}  // namespace

std::shared_ptr<Model> hf_load(const std::string& dir, ComputeDType dtype) {
  auto model = std::make_shared<Model>();
  model->config = hf_config_load(dir);
  model->path = dir;
  const ModelConfig& c = model->config;
  const at::ScalarType wt = dtype == ComputeDType::kBFloat16 ? at::kBFloat16 : at::kFloat;
  const at::ScalarType norm_t = at::kFloat;

  TensorReader reader(dir, *model);
  ModelWeights& w = model->weights;
  w.embedding = reader.get("model.embed_tokens.weight", {c.vocab_size, c.dim}, wt);
  w.final_norm = reader.get("model.norm.weight", {c.dim}, norm_t);
  w.lm_head = reader.find("lm_head.weight", {c.vocab_size, c.dim}, wt);
  if (!w.lm_head.defined()) {
    if (!c.tied_embeddings) {
      throw_invalid(dir + ": missing tensor lm_head.weight (config.json has tie_word_embeddings false)");
    }
    w.lm_head = w.embedding;
  }
  model->config.tied_embeddings = w.lm_head.is_same(w.embedding);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.attn_norm = reader.get(p + "input_layernorm.weight", {c.dim}, norm_t);
    l.wq = reader.get(p + "self_attn.q_proj.weight", {c.q_dim(), c.dim}, wt);
    l.wk = reader.get(p + "self_attn.k_proj.weight", {c.kv_dim(), c.dim}, wt);
    l.wv = reader.get(p + "self_attn.v_proj.weight", {c.kv_dim(), c.dim}, wt);
    l.wo = reader.get(p + "self_attn.o_proj.weight", {c.dim, c.q_dim()}, wt);
    if (c.qkv_bias) {
      l.bq = reader.get(p + "self_attn.q_proj.bias", {c.q_dim()}, wt);
      l.bk = reader.get(p + "self_attn.k_proj.bias", {c.kv_dim()}, wt);
      l.bv = reader.get(p + "self_attn.v_proj.bias", {c.kv_dim()}, wt);
    }
    l.ffn_norm = reader.get(p + "post_attention_layernorm.weight", {c.dim}, norm_t);
    l.w_gate = reader.get(p + "mlp.gate_proj.weight", {c.hidden_dim, c.dim}, wt);
    l.w_up = reader.get(p + "mlp.up_proj.weight", {c.hidden_dim, c.dim}, wt);
    l.w_down = reader.get(p + "mlp.down_proj.weight", {c.dim, c.hidden_dim}, wt);
    w.layers.push_back(std::move(l));
  }
  // A checkpoint with per-layer tensors beyond num_hidden_layers means config and weights disagree.
  const std::string beyond = "model.layers." + std::to_string(c.n_layers) + ".";
  for (const auto& name : reader.names()) {
    if (name.rfind(beyond, 0) == 0) {
      throw_invalid(dir + ": tensor " + name + " exists but config.json has num_hidden_layers " +
                    std::to_string(c.n_layers));
    }
    if (name.find(".qweight") != std::string::npos || name.find("weight_packed") != std::string::npos) {
      throw_unsupported(dir + ": packed quantized checkpoint (tensor " + name +
                        "); load the dense model instead");
    }
  }
  return model;
}

}  // namespace ostq
