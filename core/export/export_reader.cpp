// SPDX-License-Identifier: Apache-2.0
#include "core/export/export_reader.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cmath>
#include <functional>
#include <map>

#include "core/export/gguf_export.h"
#include "core/export/hf_dense_export.h"
#include "core/export/packed_hf_load.h"
#include "core/quant/quant_config.h"
#include "core/quant/quantized_io.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using nlohmann::json;

std::string packed_quant_method(const std::string& dir) {
  json j = json::parse(read_file(path_join(dir, "config.json")), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("quantization_config") || !j["quantization_config"].is_object()) return "";
  return j["quantization_config"].value("quant_method", "");
}

// Every weight tensor of a model with a name, in a fixed order (for the comparison).
void for_each_weight(const Model& m, const std::function<void(const std::string&, const at::Tensor&)>& f) {
  const ModelWeights& w = m.weights;
  f("embedding", w.embedding);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    f(p + "attn_norm", l.attn_norm);
    f(p + "ffn_norm", l.ffn_norm);
    for (LinearId id : kLinearIds) f(p + linear_name(id), linear_weight(l, id));
    if (l.bq.defined()) {
      f(p + "bq", l.bq);
      f(p + "bk", l.bk);
      f(p + "bv", l.bv);
    }
  }
  f("final_norm", w.final_norm);
  f("lm_head", w.lm_head);
}

void check_same_shape(const ModelConfig& a, const ModelConfig& b, const std::string& path) {
  auto same = [&](int64_t x, int64_t y, const char* what) {
    if (x != y) {
      throw_invalid(path + ": " + what + " is " + std::to_string(x) + ", the source model's " + std::to_string(y));
    }
  };
  same(a.dim, b.dim, "dim");
  same(a.hidden_dim, b.hidden_dim, "hidden_dim");
  same(a.n_layers, b.n_layers, "n_layers");
  same(a.n_heads, b.n_heads, "n_heads");
  same(a.n_kv_heads, b.n_kv_heads, "n_kv_heads");
  same(a.vocab_size, b.vocab_size, "vocab_size");
}

}  // namespace

const char* artifact_kind_name(ArtifactKind k) {
  switch (k) {
    case ArtifactKind::kBundle: return "ostq bundle";
    case ArtifactKind::kHfDense: return "hf-dense";
    case ArtifactKind::kGptq: return "gptq";
    case ArtifactKind::kCompressedTensors: return "compressed-tensors";
    case ArtifactKind::kGguf: return "gguf";
    case ArtifactKind::kLlama2c: return "llama2c";
    case ArtifactKind::kPlainHf: return "hf";
  }
  return "?";
}

ArtifactKind detect_artifact(const std::string& path) {
  if (is_directory(path)) {
    if (is_quantized_model_dir(path)) return ArtifactKind::kBundle;
    if (is_hf_dense_export(path)) return ArtifactKind::kHfDense;
    if (file_exists(path_join(path, "config.json"))) {
      const std::string method = packed_quant_method(path);
      if (method == "gptq") return ArtifactKind::kGptq;
      if (method == "compressed-tensors") return ArtifactKind::kCompressedTensors;
    }
    return ArtifactKind::kPlainHf;
  }
  if (!file_exists(path)) throw_io(path + ": no such file or directory");
  return is_gguf_file(path) ? ArtifactKind::kGguf : ArtifactKind::kLlama2c;
}

Result<LoadedArtifact> load_artifact(const std::string& path) {
  return status_guard([&]() -> LoadedArtifact {
    LoadedArtifact a;
    a.kind = detect_artifact(path);
    switch (a.kind) {
      case ArtifactKind::kBundle: {
        Result<QuantizedModel> q = quantized_model_load(path);
        if (!q.is_ok()) throw StatusError(q.status());
        a.model = std::move(q).value();
        return a;
      }
      case ArtifactKind::kHfDense: a.model = hf_dense_load(path); return a;
      case ArtifactKind::kGptq:
      case ArtifactKind::kCompressedTensors: a.model.model = packed_hf_load(path); break;
      case ArtifactKind::kGguf: a.model.model = gguf_load(path); break;
      case ArtifactKind::kLlama2c:
      case ArtifactKind::kPlainHf: {
        Result<std::shared_ptr<Model>> m = model_load(path);
        if (!m.is_ok()) throw StatusError(m.status());
        a.model.model = m.value();
        break;
      }
    }
    a.model.method = artifact_kind_name(a.kind);
    a.model.config = QuantConfig{};  // weight-only formats: no run-time quantizers
    return a;
  });
}

Result<VerifyReport> verify_export(const std::string& path, const QuantizedModel& source, const Tokenizer* tokenizer,
                                   const VerifyOptions& o) {
  return status_guard([&]() -> VerifyReport {
    Result<LoadedArtifact> loaded = load_artifact(path);
    if (!loaded.is_ok()) throw StatusError(loaded.status());
    const QuantizedModel& e = loaded->model;
    VerifyReport r;
    r.kind = loaded->kind;
    check_same_shape(e.model->config, source.model->config, path);
    r.checks.push_back("configuration matches the source (" + std::to_string(e.model->config.n_layers) + " layers, dim " +
                       std::to_string(e.model->config.dim) + ", vocab " + std::to_string(e.model->config.vocab_size) + ")");
    // Run-time quantizers (activations, KV) must agree; weight formats store no weight spec.
    auto runtime_only = [](QuantConfig c) {
      c.weight = WeightQuantSpec{};
      c.bits.clear();
      return c.describe();
    };
    if (runtime_only(e.config) != runtime_only(source.config)) {
      throw_invalid(path + ": run-time quantizers '" + runtime_only(e.config) + "' differ from the source's '" +
                    runtime_only(source.config) + "'");
    }
    // Weights: the export holds the source's weights unless H_ff was folded back (hf-dense,
    // weight-only), which only perplexity can compare.
    const bool comparable_down = e.model->online.ffn == source.model->online.ffn;
    std::map<std::string, at::Tensor> src;
    for_each_weight(*source.model, [&](const std::string& n, const at::Tensor& t) { src[n] = t; });
    bool exact = true;
    int64_t compared = 0;
    for_each_weight(*e.model, [&](const std::string& n, const at::Tensor& t) {
      if (!comparable_down && n.find("down_proj") != std::string::npos) return;
      const at::Tensor& s = src.at(n);
      if (!t.defined() || !s.defined() || t.sizes() != s.sizes()) {
        throw_invalid(path + ": tensor " + n + " has a different shape than in the source");
      }
      const at::Tensor a = t.to(at::kFloat), b = s.to(at::kFloat);
      const double scale = std::max(b.abs().max().item<double>(), 1e-30);
      const double diff = (a - b).abs().max().item<double>();
      exact = exact && at::equal(a, b);
      r.max_weight_rel_diff = std::max(r.max_weight_rel_diff, diff / scale);
      ++compared;
    });
    r.weights_exact = exact && comparable_down;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%lld tensors compared: %s (max |ΔW| / max|W| = %.3g)%s",
                  static_cast<long long>(compared), exact ? "bit-identical" : "within storage rounding",
                  r.max_weight_rel_diff, comparable_down ? "" : "; down_proj through perplexity (H_ff folded back)");
    r.checks.push_back(buf);
    r.ppl_tolerance = r.weights_exact ? 0.0 : 0.005;
    r.passed = r.max_weight_rel_diff < 0.01;
    if (!r.passed) r.failure = "weights differ from the source by more than storage rounding";
    if (!o.data_file.empty() && tokenizer != nullptr) {
      PerplexityOptions po;
      po.seqlen = o.seqlen;
      po.protocol = o.protocol;
      po.max_windows = o.max_windows;
      po.batch = o.batch;
      ActivationQuantHooks src_hooks(source.config), exp_hooks(e.config);
      po.hooks = &src_hooks;
      po.progress = progress_range(o.progress, 0.0, 0.5);
      Result<PerplexityResult> ps = perplexity_evaluate_file(*source.model, *tokenizer, o.data_file, po);
      if (!ps.is_ok()) throw StatusError(ps.status());
      po.hooks = &exp_hooks;
      po.progress = progress_range(o.progress, 0.5, 1.0);
      Result<PerplexityResult> pe = perplexity_evaluate_file(*e.model, *tokenizer, o.data_file, po);
      if (!pe.is_ok()) throw StatusError(pe.status());
      r.evaluated = true;
      r.ppl_source = ps->ppl;
      r.ppl_export = pe->ppl;
      r.ppl_rel_diff = std::abs(pe->ppl / ps->ppl - 1.0);
      const bool ppl_ok = r.weights_exact ? pe->ppl == ps->ppl : r.ppl_rel_diff <= r.ppl_tolerance;
      std::snprintf(buf, sizeof buf, "perplexity %.4f (export) vs %.4f (source) on %lld windows: %s%.4f%%",
                    pe->ppl, ps->ppl, static_cast<long long>(pe->windows), r.weights_exact ? "exact required, diff " : "diff ",
                    100.0 * r.ppl_rel_diff);
      if (ppl_ok) {
        r.checks.push_back(buf);
      } else {
        r.passed = false;
        r.failure = std::string(buf) + " — out of tolerance";
      }
    }
    return r;
  });
}

}  // namespace ostq
