// SPDX-License-Identifier: Apache-2.0
#include "core/engine/runnable_model.h"

#include "core/engine/lowbit_linear.h"
#include "core/export/hf_dense_export.h"
#include "core/export/quantized_linear.h"
#include "core/quant/quantized_io.h"

namespace ostq {

RunnableModel runnable_model_load(const std::string& path, ComputeDType dtype) {
  LoadOptions options;
  options.dtype = dtype;
  RunnableModel r;
  if (is_hf_dense_export(path)) {
    // An hf-dense export runs with the quantizers its ostq_quantization block records.
    r.quantized = std::make_shared<QuantizedModel>(hf_dense_load(path));
    model_to_dtype(*r.quantized->model, dtype);
  } else if (is_quantized_model_dir(path)) {
    Result<QuantizedModel> q = quantized_model_load(path, options);
    throw_if_error(q.status());
    r.quantized = std::make_shared<QuantizedModel>(std::move(q).value());
  } else {
    Result<std::shared_ptr<Model>> m = model_load(path, options);
    throw_if_error(m.status());
    r.model = m.value();
    return r;
  }
  r.model = r.quantized->model;
  r.hooks = std::make_shared<ActivationQuantHooks>(r.quantized->config);  // refers into r.quantized
  return r;
}

std::string runnable_use_kernels(RunnableModel& runnable, bool use_kernels) {
  if (!runnable.quantized) return "";
  if (!use_kernels) return "fake-quant (--kernels off)";
  if (!has_weight_grids(*runnable.quantized)) return "fake-quant (the bundle has no weight grids)";
  Result<std::shared_ptr<LowBitExecutor>> executor = lowbit_executor_create(*runnable.quantized);
  if (!executor.is_ok()) return "fake-quant (" + executor.status().message() + ")";
  if (!executor.value()->uses_kernels()) return "fake-quant (" + executor.value()->summary() + ")";
  runnable.hooks = executor.value();
  return executor.value()->summary();
}

std::unique_ptr<Tokenizer> tokenizer_for_model(const Model& model, const std::string& path) {
  const std::string p = path.empty() ? tokenizer_find_for_model(model.path) : path;
  if (p.empty()) {
    throw_invalid(model.path + ": no tokenizer found next to the model (tokenizer.json, tokenizer.model, "
                  "tokenizer.bin or tok*.bin); name one explicitly (--tokenizer FILE)");
  }
  Result<std::unique_ptr<Tokenizer>> tok = tokenizer_load(p, static_cast<int32_t>(model.config.vocab_size));
  throw_if_error(tok.status());
  throw_if_error(model_check_tokenizer(model, *tok.value(), p));
  return std::move(tok).value();
}

}  // namespace ostq
