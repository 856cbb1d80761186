// SPDX-License-Identifier: Apache-2.0
// GGUF reader: a llama- or qwen2-architecture GGUF file → fp32 Model in the engine's conventions
// (the inverse of gguf_export.cpp, see Note [GGUF export types]). Every tensor is dequantized to fp32.
#include <torch/types.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include "core/export/gguf_export.h"
#include "core/export/gguf_internal.h"
#include "core/io/gguf_format.h"
#include "core/util/mapped_file.h"

namespace ostq {

namespace {

using namespace gguf_detail;

// Typed metadata lookups that name the file, the key and the problem.
class Meta {
 public:
  Meta(const GgufHeader& h, const std::string& file) : h_(h), file_(file) {}

  const GgufValue* find(const std::string& key) const { return h_.find(key); }
  int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
    const GgufValue* v = get(key, fallback.has_value());
    if (v == nullptr) return *fallback;
    if (!v->is_integer()) wrong_type(key, *v, "an integer");
    return v->as_int();
  }
  double number(const std::string& key, std::optional<double> fallback = std::nullopt) const {
    const GgufValue* v = get(key, fallback.has_value());
    if (v == nullptr) return *fallback;
    if (!v->is_number()) wrong_type(key, *v, "a number");
    return v->as_double();
  }
  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) const {
    const GgufValue* v = get(key, fallback.has_value());
    if (v == nullptr) return *fallback;
    if (v->type != GgufType::kString) wrong_type(key, *v, "a string");
    return v->str;
  }

 private:
  const GgufValue* get(const std::string& key, bool optional) const {
    const GgufValue* v = h_.find(key);
    if (v == nullptr && !optional) throw_invalid(file_ + ": missing metadata key " + key);
    return v;
  }
  [[noreturn]] void wrong_type(const std::string& key, const GgufValue& v, const char* expected) const {
    throw_invalid(file_ + ": metadata " + key + " has type " + gguf_type_name(v.type) + ", expected " + expected);
  }
  const GgufHeader& h_;
  const std::string& file_;
};

ModelConfig config_from_metadata(const GgufHeader& h, const std::string& path) {
  const Meta meta(h, path);
  const std::string arch = meta.string("general.architecture");
  GgufArch a{};
  if (!gguf_arch_named(arch, &a)) {
    throw_unsupported(path + ": GGUF architecture \"" + arch + "\" (only \"llama\" and \"qwen2\" are read)");
  }
  ModelConfig c;
  c.arch = a.arch;
  c.qkv_bias = a.qkv_bias;
  c.name = path;
  c.dim = meta.integer(a.key("embedding_length"));
  c.hidden_dim = meta.integer(a.key("feed_forward_length"));
  c.n_layers = meta.integer(a.key("block_count"));
  c.n_heads = meta.integer(a.key("attention.head_count"));
  c.n_kv_heads = meta.integer(a.key("attention.head_count_kv"), c.n_heads);
  c.max_seq_len = meta.integer(a.key("context_length"));
  if (c.n_heads <= 0) throw_invalid(path + ": " + a.key("attention.head_count") + " must be positive");
  c.head_dim = meta.integer(a.key("attention.key_length"), c.dim / c.n_heads);
  if (meta.integer(a.key("attention.value_length"), c.head_dim) != c.head_dim) {
    throw_unsupported(path + ": " + a.key("attention.value_length") + " differs from key_length");
  }
  if (meta.integer(a.key("rope.dimension_count"), c.head_dim) != c.head_dim) {
    throw_unsupported(path + ": partial RoPE (" + a.key("rope.dimension_count") + " ≠ head dimension " +
                      std::to_string(c.head_dim) + ")");
  }
  c.norm_eps = meta.number(a.key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = meta.number(a.key("rope.freq_base"), 10000.0);
  const std::string scaling = meta.string(a.key("rope.scaling.type"), "none");
  if (scaling != "none") throw_unsupported(path + ": RoPE scaling \"" + scaling + "\"");
  if (meta.find(kOstqRopeType) != nullptr) {
    if (meta.string(kOstqRopeType) != "llama3") {
      throw_unsupported(path + ": " + kOstqRopeType + " \"" + meta.string(kOstqRopeType) + "\"");
    }
    RopeScaling& s = c.rope_scaling;
    s.type = RopeScaling::Type::kLlama3;
    s.factor = meta.number(kOstqRopeFactor);
    s.low_freq_factor = meta.number(kOstqRopeLow);
    s.high_freq_factor = meta.number(kOstqRopeHigh);
    s.original_max_position_embeddings = meta.integer(kOstqRopeOrigCtx);
    if (!(s.factor > 0) || !(s.high_freq_factor > s.low_freq_factor) || !(s.low_freq_factor > 0)) {
      throw_invalid(path + ": inconsistent ostq.rope_scaling values");
    }
  } else if (h.find_tensor("rope_freqs.weight") != nullptr) {
    throw_unsupported(path + ": rope_freqs.weight without ostq.rope_scaling.* keys (RoPE scaling of unknown origin)");
  }
  const GgufTensorInfo* embd = h.find_tensor("token_embd.weight");
  if (embd == nullptr) throw_invalid(path + ": missing tensor token_embd.weight");
  if (embd->dims.size() != 2) throw_invalid(path + ": token_embd.weight is not 2-dimensional");
  c.vocab_size = static_cast<int64_t>(std::min<uint64_t>(embd->dims[1], uint64_t{1} << 40));
  c.tied_embeddings = h.find_tensor("output.weight") == nullptr;
  c.bos_id = static_cast<int32_t>(meta.integer("tokenizer.ggml.bos_token_id", c.bos_id));
  c.eos_id = static_cast<int32_t>(meta.integer("tokenizer.ggml.eos_token_id", c.eos_id));
  c.validate(path);
  return c;
}

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  uint8_t magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return ok;
}

std::shared_ptr<Model> gguf_load(const std::string& path) {
  const std::shared_ptr<MappedFile> map = MappedFile::open(path);
  const GgufHeader h = gguf_parse(map->data(), map->size(), path);
  const ModelConfig c = config_from_metadata(h, path);
  const GgufArch arch = gguf_arch_for(c.arch);

  std::set<std::string> expected = {"token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight"};
  // fp32 tensor of the given PyTorch shape, dequantized from the map.
  auto get = [&](const std::string& name, const std::vector<int64_t>& shape) -> at::Tensor {
    expected.insert(name);
    const GgufTensorInfo* t = h.find_tensor(name);
    if (t == nullptr) throw_invalid(path + ": missing tensor " + name);
    if (t->torch_shape() != shape) {
      throw_invalid(path + ": tensor " + name + " has shape " + shape_to_string(t->torch_shape()) +
                    ", the metadata implies " + shape_to_string(shape));
    }
    if (t->type == GgmlType::kQ5_0 || t->type == GgmlType::kQ5_1) {
      throw_unsupported(path + ": tensor " + name + " has type " + ggml_type_name(t->type) +
                        " (this reader decodes F32, F16, BF16, Q4_0, Q4_1, Q8_0)");
    }
    at::Tensor out = torch::empty(shape, torch::kFloat32);
    ggml_dequantize(t->type, map->data() + t->offset, out.data_ptr<float>(), t->numel);
    return out;
  };

  auto model = std::make_shared<Model>();
  model->config = c;
  model->path = path;
  model->dtype = at::kFloat;
  ModelWeights& w = model->weights;
  w.embedding = get("token_embd.weight", {c.vocab_size, c.dim});
  w.final_norm = get("output_norm.weight", {c.dim});
  w.lm_head = c.tied_embeddings ? w.embedding : get("output.weight", {c.vocab_size, c.dim});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights l;
    l.attn_norm = get(gguf_tensor_name(i, "attn_norm"), {c.dim});
    l.ffn_norm = get(gguf_tensor_name(i, "ffn_norm"), {c.dim});
    for (LinearId id : kLinearIds) {
      const bool in_is_d = id != LinearId::kO && id != LinearId::kDown;
      const int64_t out = id == LinearId::kQ ? c.q_dim()
                          : (id == LinearId::kK || id == LinearId::kV) ? c.kv_dim()
                          : (id == LinearId::kGate || id == LinearId::kUp) ? c.hidden_dim : c.dim;
      const int64_t in = in_is_d ? c.dim : id == LinearId::kO ? c.q_dim() : c.hidden_dim;
      at::Tensor t = get(gguf_tensor_name(i, gguf_linear_name(id)), {out, in});
      linear_weight(l, id) = permute_qk(t, id, c, arch.qk_layout, RopeLayout::kRotateHalf);
      at::Tensor* bias = id == LinearId::kQ ? &l.bq : id == LinearId::kK ? &l.bk : id == LinearId::kV ? &l.bv : nullptr;
      if (c.qkv_bias && bias != nullptr) {
        *bias = permute_qk(get(gguf_bias_name(i, gguf_linear_name(id)), {out}), id, c, arch.qk_layout,
                           RopeLayout::kRotateHalf);
      }
    }
    w.layers.push_back(std::move(l));
  }
  for (const GgufTensorInfo& t : h.tensors) {
    if (expected.count(t.name) == 0) {
      throw_unsupported(path + ": tensor \"" + t.name + "\" is not part of the " + arch.name +
                        " architecture read here");
    }
  }
  model_validate_weights(*model, path);
  return model;
}

}  // namespace ostq
