// SPDX-License-Identifier: Apache-2.0
#include "core/model/llama2c_loader.h"

#include <torch/types.h>

#include <cstring>

#include "core/io/llama2c_format.h"
#include "core/util/mapped_file.h"

namespace ostq {

namespace {

// fp32 view of `numel` floats at `offset` of the map (no copy; offsets are 4-byte aligned).
at::Tensor map_fp32(const MappedFile& file, uint64_t offset, int64_t numel) {
  auto* p = const_cast<uint8_t*>(file.data() + offset);
  return torch::from_blob(p, {numel}, torch::kFloat32);
}

// v2: `layers` blocks of [per_layer int8 codes][per_layer/gs fp32 scales] → fp32 [layers*per_layer].
at::Tensor dequantize_q8(const MappedFile& file, uint64_t offset, int64_t per_layer, int64_t layers,
                         int64_t gs) {
  at::Tensor out = torch::empty({layers * per_layer}, torch::kFloat32);
  float* dst = out.data_ptr<float>();
  const uint8_t* p = file.data() + offset;
  for (int64_t l = 0; l < layers; ++l) {
    const auto* codes = reinterpret_cast<const int8_t*>(p);
    const uint8_t* scales = p + per_layer;
    for (int64_t g = 0; g < per_layer / gs; ++g) {
      float s;
      std::memcpy(&s, scales + 4 * g, 4);
      for (int64_t j = 0; j < gs; ++j) dst[g * gs + j] = s * static_cast<float>(codes[g * gs + j]);
    }
    dst += per_layer;
    p += per_layer + 4 * (per_layer / gs);
  }
  return out;
}

}  // namespace

std::shared_ptr<Model> llama2c_load(const std::string& path) {
  auto file = MappedFile::open(path);
  Llama2cLayout layout = llama2c_parse(file->data(), file->size(), path);
  const ModelConfig& c = layout.config;

  auto model = std::make_shared<Model>();
  model->config = c;
  model->config.name = path;
  model->path = path;
  model->keep_alive.push_back(file);

  const int64_t L = c.n_layers;
  auto get = [&](const std::string& name) -> at::Tensor {
    const Llama2cTensor& t = layout.tensor(name);
    if (!t.quantized) return map_fp32(*file, t.offset, static_cast<int64_t>(t.numel));
    int64_t layers = (name == "token_embedding" || name == "wcls") ? 1 : L;
    return dequantize_q8(*file, t.offset, static_cast<int64_t>(t.numel) / layers, layers,
                         layout.group_size);
  };
  auto per_layer = [&](const std::string& name, std::vector<int64_t> shape) {
    shape.insert(shape.begin(), L);
    return get(name).view(shape);
  };

  ModelWeights& w = model->weights;
  w.embedding = get("token_embedding").view({c.vocab_size, c.dim});
  w.final_norm = get("rms_final").view({c.dim});
  w.lm_head = layout.shared_classifier ? w.embedding : get("wcls").view({c.vocab_size, c.dim});
  at::Tensor rms_att = per_layer("rms_att", {c.dim});
  at::Tensor rms_ffn = per_layer("rms_ffn", {c.dim});
  at::Tensor wq = per_layer("wq", {c.q_dim(), c.dim});
  at::Tensor wk = per_layer("wk", {c.kv_dim(), c.dim});
  at::Tensor wv = per_layer("wv", {c.kv_dim(), c.dim});
  at::Tensor wo = per_layer("wo", {c.dim, c.q_dim()});
  at::Tensor w1 = per_layer("w1", {c.hidden_dim, c.dim});
  at::Tensor w2 = per_layer("w2", {c.dim, c.hidden_dim});
  at::Tensor w3 = per_layer("w3", {c.hidden_dim, c.dim});
  for (int64_t i = 0; i < L; ++i) {
    LayerWeights l;
    l.attn_norm = rms_att[i];
    l.wq = rope_permute_rows(wq[i], c.n_heads, c.head_dim, RopeLayout::kInterleaved, RopeLayout::kRotateHalf);
    l.wk = rope_permute_rows(wk[i], c.n_kv_heads, c.head_dim, RopeLayout::kInterleaved,
                             RopeLayout::kRotateHalf);
    l.wv = wv[i];
    l.wo = wo[i];
    l.ffn_norm = rms_ffn[i];
    l.w_gate = w1[i];
    l.w_down = w2[i];
    l.w_up = w3[i];
    w.layers.push_back(std::move(l));
  }
  return model;
}

}  // namespace ostq
