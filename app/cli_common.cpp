// SPDX-License-Identifier: Apache-2.0
#include "app/cli_common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "core/quant/quantized_io.h"

namespace ostq::cli {

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
  return runnable_model_load(path, load_options_or_throw(dtype_name).dtype);
}

std::string use_kernel_path(RunnableModel& runnable, const std::string& mode) {
  return runnable_use_kernels(runnable, mode != "off");
}

std::unique_ptr<Tokenizer> load_tokenizer_or_throw(const std::string& tokenizer_path, const Model& model) {
  return tokenizer_for_model(model, tokenizer_path);
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
