// SPDX-License-Identifier: Apache-2.0
#include "core/export/export.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cmath>
#include <filesystem>

#include "core/export/compressed_tensors_export.h"
#include "core/export/gguf_export.h"
#include "core/export/gptq_export.h"
#include "core/export/hf_dense_export.h"
#include "core/export/llama2c_export.h"
#include "core/export/quantized_linear.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

struct FormatName {
  ExportFormat format;
  const char* name;
};
constexpr FormatName kFormatNames[] = {{ExportFormat::kHfDense, "hf-dense"},
                                       {ExportFormat::kGptq, "gptq"},
                                       {ExportFormat::kCompressedTensors, "compressed-tensors"},
                                       {ExportFormat::kGguf, "gguf"},
                                       {ExportFormat::kLlama2c, "llama2c"}};

// FORMATS.md §6.0: what each target can express. Everything but hf-dense is weight-only and has
// no way to ask the runtime for an online Hadamard, so such models are refused rather than
// written as files that load and silently compute something else.
void check_exportable(const QuantizedModel& q, ExportFormat f) {
  if (f == ExportFormat::kHfDense) return;
  const std::string target = export_format_name(f);
  const Model& m = *q.model;
  if (q.config.quantizes_activations() || q.config.quantizes_kv()) {
    throw_invalid(target + " stores weight-only models; " + q.method + " at " + q.config.bits +
                  " quantizes activations or the KV cache at run time, which " + target +
                  " cannot express (export hf-dense, which records the quantizers, or quantize at W-16-16)");
  }
  if (m.online.ffn || m.online.qk) {
    throw_invalid(target + " cannot express the online Hadamard on the down_proj input that this model's "
                  "weights assume: quantize with --no-online-hadamard, or export hf-dense (which folds it back)");
  }
  const bool packed = f == ExportFormat::kGptq || f == ExportFormat::kCompressedTensors;
  if (packed && !has_weight_grids(q)) {
    throw_invalid(target + " stores packed integer weights, but this model's weights are not quantized "
                  "(or the bundle predates saved grids): quantize the weights first");
  }
}

}  // namespace

const char* export_format_name(ExportFormat f) {
  for (const FormatName& n : kFormatNames) {
    if (n.format == f) return n.name;
  }
  return "?";
}

Result<ExportFormat> export_format_parse(const std::string& name) {
  std::string known;
  for (const FormatName& n : kFormatNames) {
    if (name == n.name) return n.format;
    known += std::string(known.empty() ? "" : ", ") + n.name;
  }
  return Status::invalid_input("unknown export format '" + name + "' (known: " + known + ")");
}

std::string default_export_path(const std::string& bundle, ExportFormat format) {
  std::string base = bundle;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (format == ExportFormat::kGguf) return base + ".gguf";
  if (format == ExportFormat::kLlama2c) return base + ".bin";
  return base + "-" + export_format_name(format);
}

std::string bundle_tokenizer_path(const std::string& bundle) {
  for (const char* name : {"tokenizer.model", "tokenizer.bin"}) {
    const std::string path = path_join(bundle, name);
    if (file_exists(path)) return path;
  }
  return tokenizer_find_for_model(bundle);
}

int64_t model_parameter_count(const Model& m) {
  const ModelWeights& w = m.weights;
  int64_t n = w.embedding.numel() + w.final_norm.numel();
  if (!w.lm_head.is_same(w.embedding)) n += w.lm_head.numel();
  for (const LayerWeights& l : w.layers) {
    for (const at::Tensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.ffn_norm,
                                &l.w_gate, &l.w_up, &l.w_down}) {
      if (t->defined()) n += t->numel();
    }
  }
  return n;
}

uint64_t weight_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") total += e.file_size(ec);
  }
  return total;
}

uint64_t path_total_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

ExportReport export_quantized(const QuantizedModel& q, const std::string& out, const ExportOptions& o) {
  if (!q.model) throw StatusError(Status::internal("export_quantized: no model"));
  check_exportable(q, o.format);
  ExportReport r;
  switch (o.format) {
    case ExportFormat::kHfDense: r = write_hf_dense_export(q, out, o); break;
    case ExportFormat::kGptq: r = write_gptq_export(q, out, o); break;
    case ExportFormat::kCompressedTensors: r = write_compressed_tensors_export(q, out, o); break;
    case ExportFormat::kGguf: r = write_gguf_export(q, out, o); break;
    case ExportFormat::kLlama2c: r = write_llama2c_export(q, out, o); break;
  }
  r.path = out;
  r.format = o.format;
  r.size_only = o.size_only;
  if (o.size_only) {
    r.bytes = r.weight_bytes;
  } else {
    r.bytes = path_total_bytes(out);
    r.weight_bytes = weight_file_bytes(out);
  }
  r.parameters = model_parameter_count(*q.model);
  r.bits_per_parameter =
      r.parameters > 0 ? 8.0 * static_cast<double>(r.weight_bytes) / static_cast<double>(r.parameters) : 0.0;
  return r;
}

}  // namespace ostq
