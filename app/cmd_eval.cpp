// SPDX-License-Identifier: Apache-2.0
// `ostq eval MODEL --data FILE`: perplexity with the protocol of OSTQUANT_SPEC.md §11.1.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "core/eval/perplexity.h"

namespace ostq::cli {

namespace {

struct EvalArgs {
  std::string model, tokenizer, data, dtype = "fp32", protocol = "plain", kernels = "auto";
  int64_t seqlen = 0, max_windows = 0, batch = 1;
  bool json = false, quiet = false;
};

void run_eval(const EvalArgs& a) {
  RunnableModel runnable = load_runnable_model_or_throw(a.model, a.dtype);
  const std::shared_ptr<Model>& model = runnable.model;
  const std::string path = use_kernel_path(runnable, a.kernels);
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *model);
  Result<TextProtocol> protocol = text_protocol_parse(a.protocol);
  throw_if_error(protocol.status());
  PerplexityOptions o;
  o.seqlen = a.seqlen;
  o.max_windows = a.max_windows;
  o.batch = a.batch;
  o.protocol = protocol.value();
  o.hooks = runnable.hooks.get();
  o.progress = stderr_progress(a.quiet || a.json);
  Result<PerplexityResult> r = perplexity_evaluate_file(*model, *tokenizer, a.data, o);
  throw_if_error(r.status());
  const PerplexityResult& p = r.value();
  if (a.json) {
    nlohmann::json j = {{"model", a.model},     {"data", a.data},         {"dtype", a.dtype},
                        {"protocol", p.protocol}, {"ppl", p.ppl},         {"mean_nll", p.mean_nll},
                        {"tokens", p.tokens},   {"predicted_tokens", p.predicted},
                        {"seqlen", p.seqlen},   {"windows", p.windows},   {"seconds", p.seconds},
                        {"tokens_per_s", p.tokens_per_s}, {"tokenizer", tokenizer->kind()}};
    if (runnable.quantized) {
      j["quantized"] = {{"method", runnable.quantized->method},
                        {"quantizers", runnable.quantized->config.describe()},
                        {"path", path}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("perplexity  %.4f\n", p.ppl);
  if (runnable.quantized) {
    std::printf("quantized   %s: %s\n", runnable.quantized->method.c_str(), runnable.quantized->config.describe().c_str());
    std::printf("path        %s\n", path.c_str());
  }
  std::printf("protocol    %s text, one BOS, %lld windows x %lld tokens (remainder dropped), %lld predicted tokens\n",
              p.protocol.c_str(), static_cast<long long>(p.windows), static_cast<long long>(p.seqlen),
              static_cast<long long>(p.predicted));
  std::printf("tokens      %lld in the text (%s)\n", static_cast<long long>(p.tokens), tokenizer->kind().c_str());
  std::printf("speed       %.0f tokens/s (%s, %.2f s)\n", p.tokens_per_s, a.dtype.c_str(), p.seconds);
}

}  // namespace

void register_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity of a model on a UTF-8 text file");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--data", a->data, "UTF-8 text file (e.g. wiki.test.raw)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--seqlen", a->seqlen, "Window length (default min(2048, model context))");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--protocol", a->protocol, "plain: the file as one string; rows: WikiText rows joined by blank lines")
      ->check(CLI::IsMember({"plain", "rows"}));
  cmd->add_option("--max-windows", a->max_windows, "Evaluate at most this many windows (0 = all)");
  cmd->add_option("--batch", a->batch, "Windows per forward pass (does not change the result)");
  cmd->add_option("--kernels", a->kernels,
                  "Quantized models: auto runs the low-bit kernels when the weights carry grids; off fake-quantizes")
      ->check(CLI::IsMember({"auto", "off"}));
  cmd->add_flag("--json", a->json, "Machine-readable output");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace ostq::cli
