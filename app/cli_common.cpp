// SPDX-License-Identifier: Apache-2.0
#include "app/cli_common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "core/engine/lowbit_linear.h"
#include "core/export/hf_dense_export.h"
#include "core/export/quantized_linear.h"
#include "core/quant/quantized_io.h"

namespace ostq::cli {

void throw_if_error(const Status& status) {
  if (!status.is_ok()) throw StatusError(status);
}

namespace {

LoadOptions load_options_or_throw(const std::string& dtype_name) {
  Result<ComputeDType> dtype = compute_dtype_parse(dtype_name);
  throw_if_error(dtype.status());
  LoadOptions options;
  options.dtype = dtype.value();
  return options;
}

}  // namespace

std::shared_ptr<Model> load_model_or_throw(const std::string& path, const std::string& dtype_name) {
  if (is_quantized_model_dir(path)) {
    throw_invalid(path + ": a quantized model (has " + kQuantManifestName +
                  "); this command starts from the original full-precision model");
  }
  Result<std::shared_ptr<Model>> model = model_load(path, load_options_or_throw(dtype_name));
  throw_if_error(model.status());
  return model.value();
}

RunnableModel load_runnable_model_or_throw(const std::string& path, const std::string& dtype_name) {
  RunnableModel r;
  if (is_hf_dense_export(path)) {
    // An hf-dense export runs with the quantizers its ostq_quantization block records.
    r.quantized = std::make_shared<QuantizedModel>(hf_dense_load(path));
    model_to_dtype(*r.quantized->model, load_options_or_throw(dtype_name).dtype);
  } else if (!is_quantized_model_dir(path)) {
    r.model = load_model_or_throw(path, dtype_name);
    return r;
  } else {
    Result<QuantizedModel> q = quantized_model_load(path, load_options_or_throw(dtype_name));
    throw_if_error(q.status());
    r.quantized = std::make_shared<QuantizedModel>(std::move(q).value());
  }
  r.model = r.quantized->model;
  r.hooks = std::make_shared<ActivationQuantHooks>(r.quantized->config);  // refers into r.quantized
  return r;
}

std::string use_kernel_path(RunnableModel& runnable, const std::string& mode) {
  if (!runnable.quantized) return "";
  if (mode == "off") return "fake-quant (--kernels off)";
  if (!has_weight_grids(*runnable.quantized)) return "fake-quant (the bundle has no weight grids)";
  Result<std::shared_ptr<LowBitExecutor>> executor = lowbit_executor_create(*runnable.quantized);
  if (!executor.is_ok()) return "fake-quant (" + executor.status().message() + ")";
  if (!executor.value()->uses_kernels()) return "fake-quant (" + executor.value()->summary() + ")";
  runnable.hooks = executor.value();
  return executor.value()->summary();
}

std::unique_ptr<Tokenizer> load_tokenizer_or_throw(const std::string& tokenizer_path, const Model& model) {
  const std::string& model_path = model.path;
  const int64_t vocab_size = model.config.vocab_size;
  std::string path = tokenizer_path.empty() ? tokenizer_find_for_model(model_path) : tokenizer_path;
  if (path.empty()) {
    throw_invalid(model_path + ": no tokenizer found next to the model (tokenizer.json, tokenizer.model, "
                  "tokenizer.bin or tok*.bin); pass --tokenizer FILE");
  }
  Result<std::unique_ptr<Tokenizer>> tok = tokenizer_load(path, static_cast<int32_t>(vocab_size));
  throw_if_error(tok.status());
  throw_if_error(model_check_tokenizer(model, *tok.value(), path));
  return std::move(tok).value();
}

ProgressFn stderr_progress(bool quiet) {
  if (quiet) return {};
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [tty, last](const Progress& p) {
    auto now = std::chrono::steady_clock::now();
    bool done = p.fraction >= 1.0;
    if (!done && now - *last < std::chrono::milliseconds(tty ? 100 : 2000)) return true;
    *last = now;
    std::fprintf(stderr, tty ? "\r\033[K[%s] %5.1f%% %s" : "[%s] %5.1f%% %s\n", p.stage.c_str(),
                 100.0 * p.fraction, p.detail.c_str());
    if (tty && done) std::fputc('\n', stderr);
    std::fflush(stderr);
    return true;
  };
}

}  // namespace ostq::cli
