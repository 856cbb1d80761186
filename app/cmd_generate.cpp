// SPDX-License-Identifier: Apache-2.0
// `ostq generate MODEL`: greedy or sampled text; only the text goes to stdout.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "core/engine/generate.h"

namespace ostq::cli {

namespace {

struct GenerateArgs {
  std::string model, tokenizer, prompt, dtype = "fp32", kernels = "auto";
  int64_t steps = 256;
  double temperature = 0.0, top_p = 0.9;
  uint64_t seed = 42;
  bool stats = false;
};

void run_generate(const GenerateArgs& a) {
  RunnableModel runnable = load_runnable_model_or_throw(a.model, a.dtype);
  const std::shared_ptr<Model>& model = runnable.model;
  const std::string path = use_kernel_path(runnable, a.kernels);
  if (!path.empty()) std::fprintf(stderr, "%s\n", path.c_str());  // stdout carries only the text
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *model);
  GenerateOptions o;
  o.hooks = runnable.hooks.get();
  o.prompt = a.prompt;
  o.steps = a.steps;
  o.temperature = a.temperature;
  o.top_p = a.top_p;
  o.seed = a.seed;
  Result<GenerateResult> r = generate(*model, *tokenizer, o, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  throw_if_error(r.status());
  if (a.stats) {
    std::fprintf(stderr, "%lld tokens generated, %.1f tokens/s\n",
                 static_cast<long long>(r->tokens.size() - r->prompt_tokens), r->tokens_per_s);
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text (no prompt: start from BOS)");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--prompt", a->prompt, "Prompt text (echoed before the continuation)");
  cmd->add_option("--steps", a->steps, "Positions to run, prompt included (llama2.c semantics)");
  cmd->add_option("--temperature", a->temperature, "0 = greedy");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass when temperature > 0");
  cmd->add_option("--seed", a->seed, "Sampling seed");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--kernels", a->kernels,
                  "Quantized models: auto runs the low-bit kernels when the weights carry grids; off fake-quantizes")
      ->check(CLI::IsMember({"auto", "off"}));
  cmd->add_flag("--stats", a->stats, "Print tokens/s on stderr");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ostq::cli
