// SPDX-License-Identifier: Apache-2.0
#include "core/export/hf_dense_export.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cmath>

#include "core/io/hf_config.h"
#include "core/model/hf_writer.h"
#include "core/quant/hadamard.h"
#include "core/quant/quantized_io.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using nlohmann::json;

// M of the online H_ff (z ← z·M on the down_proj input), fp64 [d_ff, d_ff]: the dense fallback the
// model carries, or H_n / sqrt(n).
at::Tensor ffn_online_matrix(const Model& m) {
  if (m.online.ffn_dense.defined()) return m.online.ffn_dense.to(at::kDouble);
  const int64_t n = m.config.hidden_dim;
  return hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
}

// W_down [d, d_ff] ← W_down · op, computed in fp64, stored in the weight's dtype.
void multiply_down_weights(Model& m, const at::Tensor& op) {
  for (LayerWeights& l : m.weights.layers) {
    l.w_down = at::matmul(l.w_down.to(at::kDouble), op).to(l.w_down.scalar_type()).contiguous();
  }
}

}  // namespace

ExportReport write_hf_dense_export(const QuantizedModel& q, const std::string& out_dir, const ExportOptions& o) {
  ExportReport r;
  if (o.size_only) {
    r.weight_bytes = static_cast<uint64_t>(model_parameter_count(*q.model)) * dtype_size(o.dense_dtype);
    return r;
  }
  Model dense = *q.model;  // shares tensors; w_down is replaced below, never modified in place
  json online = {{"ffn_hadamard", nullptr}, {"qk_hadamard", q.model->online.qk}};
  if (q.model->online.ffn) {
    // z·M·Q(W_down·M)ᵀ = z·(Q(W_down·M)·Mᵀ)ᵀ: folding Mᵀ back makes the plain model exact.
    multiply_down_weights(dense, ffn_online_matrix(*q.model).t());
    dense.online = {};
    const bool fallback = q.model->online.ffn_dense.defined();
    online["ffn_hadamard"] = {{"kind", fallback ? "random_orthogonal" : "hadamard"},
                              {"order", q.model->config.hidden_dim},
                              {"seed", q.seed},
                              {"folded_back", true}};
    r.notes.push_back("H_ff folded back into down_proj (W_down·Mᵀ): the dense weights run without any online op");
  }
  json block = {{"format_version", 1},
                {"method", q.method},
                {"bits", q.config.bits},
                {"quantizers", json::parse(quant_config_to_json(q.config))},
                {"online", online},
                {"source", o.source}};
  if (q.config.quantizes_activations() || q.config.quantizes_kv()) {
    block["runtime"] =
        "the weights are the dequantized W4 values; to reproduce the evaluated model, quantize activations / "
        "KV as in `quantizers`, apply H_ff online on the down_proj input with W_down·M, and H_dh on q/k after RoPE "
        "when qk_hadamard is true";
    r.notes.push_back("activation / KV quantizers recorded in config.json's ostq_quantization block; a plain "
                      "HF runtime runs the weights at 16-bit activations");
  }
  json config = json::parse(hf_config_to_json(dense.config, o.dense_dtype));
  config[kOstqQuantizationKey] = block;
  HfWriteOptions w;
  w.dtype = o.dense_dtype;
  w.tokenizer_path = o.tokenizer_path;
  // Written after hf_write's own config.json, so this one (with the block) is what lands.
  w.extra_files.emplace_back("config.json", config.dump(2) + "\n");
  hf_write(dense, out_dir, w, o.progress);
  return r;
}

bool is_hf_dense_export(const std::string& dir) {
  const std::string path = path_join(dir, "config.json");
  if (!is_directory(dir) || !file_exists(path)) return false;
  json j = json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains(kOstqQuantizationKey);
}

QuantizedModel hf_dense_load(const std::string& dir) {
  const std::string path = path_join(dir, "config.json");
  json block;
  try {
    block = json::parse(read_file(path)).at(kOstqQuantizationKey);
  } catch (const json::exception& e) {
    throw_invalid(path + ": no readable " + std::string(kOstqQuantizationKey) + " block: " + e.what());
  }
  Result<std::shared_ptr<Model>> m = model_load(dir);
  if (!m.is_ok()) throw StatusError(m.status());
  QuantizedModel q;
  q.model = m.value();
  try {
    q.method = block.at("method").get<std::string>();
    q.config = quant_config_from_json(block.at("quantizers").dump(), path);
    const json& online = block.at("online");
    q.model->online.qk = online.at("qk_hadamard").get<bool>();
    const json& ffn = online.at("ffn_hadamard");
    // W4A4 runs with H_ff online; weight-only models are exact without it.
    if (!ffn.is_null() && (q.config.quantizes_activations() || q.config.quantizes_kv())) {
      const int64_t n = ffn.at("order").get<int64_t>();
      if (n != q.model->config.hidden_dim) throw_invalid(path + ": H_ff order " + std::to_string(n) + " is not d_ff");
      q.seed = ffn.at("seed").get<uint64_t>();
      at::Tensor mat;
      if (ffn.at("kind").get<std::string>() == "random_orthogonal") {
        mat = random_orthogonal(n, q.seed);
        q.model->online.ffn_dense = mat.to(at::kFloat);
      } else {
        mat = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
      }
      multiply_down_weights(*q.model, mat);
      q.model->online.ffn = true;
    }
  } catch (const json::exception& e) {
    throw_invalid(path + ": bad " + std::string(kOstqQuantizationKey) + " block: " + e.what());
  }
  return q;
}

}  // namespace ostq
