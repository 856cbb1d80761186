// SPDX-License-Identifier: Apache-2.0
// `ostq info MODEL`: architecture, shapes, parameter count, tokenizer and runtime.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "core/engine/runtime.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq::cli {

namespace {

struct InfoArgs {
  std::string model;
  std::string tokenizer;
  bool json = false;
};

void run_info(const InfoArgs& a) {
  auto model = load_runnable_model_or_throw(a.model).model;
  const ModelConfig& c = model->config;
  std::string tok_path = a.tokenizer.empty() ? tokenizer_find_for_model(a.model) : a.tokenizer;
  std::string tok_kind = "none found";
  if (!tok_path.empty()) {
    auto tok = tokenizer_load(tok_path, static_cast<int32_t>(c.vocab_size));
    tok_kind = tok.is_ok() ? tok.value()->kind() + " (" + tok_path + ")" : tok.status().to_string();
  }
  if (a.json) {
    nlohmann::json j = {{"path", a.model},
                        {"format", source_format_name(c.source)},
                        {"architecture", architecture_name(c.arch)},
                        {"dim", c.dim},
                        {"hidden_dim", c.hidden_dim},
                        {"n_layers", c.n_layers},
                        {"n_heads", c.n_heads},
                        {"n_kv_heads", c.n_kv_heads},
                        {"head_dim", c.head_dim},
                        {"vocab_size", c.vocab_size},
                        {"max_seq_len", c.max_seq_len},
                        {"rope_theta", c.rope_theta},
                        {"norm_eps", c.norm_eps},
                        {"tied_embeddings", c.tied_embeddings},
                        {"qkv_bias", c.qkv_bias},
                        {"parameters", c.parameter_count()},
                        {"tokenizer", tok_kind}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("model        %s\n", a.model.c_str());
  std::printf("format       %s\n", source_format_name(c.source));
  std::printf("architecture %s\n", c.summary().c_str());
  std::printf("parameters   %lld\n", static_cast<long long>(c.parameter_count()));
  std::printf("rope         theta %g%s, norm eps %g\n", c.rope_theta,
              c.rope_scaling.type == RopeScaling::Type::kLlama3 ? " (llama3 scaling)" : "", c.norm_eps);
  std::printf("tokenizer    %s\n", tok_kind.c_str());
  std::printf("runtime      %s\n", runtime_description().c_str());
}

}  // namespace

void register_info(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model's architecture, size and tokenizer");
  cmd->add_option("model", args->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->callback([args] { run_info(*args); });
}

}  // namespace ostq::cli
