// SPDX-License-Identifier: Apache-2.0
// `ostq synth OUT` writes a synthetic HF model; `ostq convert MODEL --out DIR` re-writes any
// loadable model as an HF directory (weights in the engine's layout, tokenizer carried along).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "core/model/hf_writer.h"
#include "core/model/synth.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq::cli {

namespace {

DType storage_dtype(const std::string& name) {
  if (name == "bf16") return DType::kBF16;
  if (name == "f16" || name == "fp16") return DType::kF16;
  return DType::kF32;
}

struct SynthArgs {
  std::string out, arch = "llama", dtype = "fp32", tokenizer;
  SynthOptions o;
  bool quiet = false;
};

void run_synth(SynthArgs& a) {
  a.o.arch = a.arch == "qwen2" ? Architecture::kQwen2 : a.arch == "mistral" ? Architecture::kMistral
                                                                              : Architecture::kLlama;
  auto model = synth_model(a.o);
  HfWriteOptions w;
  w.dtype = storage_dtype(a.dtype);
  if (a.tokenizer.empty()) {
    w.synthetic_vocab_tokenizer = a.o.vocab_size;
  } else {
    w.tokenizer_path = a.tokenizer;
  }
  hf_write(*model, a.out, w, stderr_progress(a.quiet));
  std::fprintf(stderr, "wrote %s: %s, %lld parameters, seed %llu, %lld outlier channels per layer\n",
               a.out.c_str(), model->config.summary().c_str(),
               static_cast<long long>(model->config.parameter_count()),
               static_cast<unsigned long long>(a.o.seed), static_cast<long long>(a.o.outliers));
}

struct ConvertArgs {
  std::string model, out, tokenizer, dtype = "fp32";
  bool quiet = false;
};

void run_convert(const ConvertArgs& a) {
  auto model = load_model_or_throw(a.model);
  HfWriteOptions w;
  w.dtype = storage_dtype(a.dtype);
  w.tokenizer_path = a.tokenizer.empty() ? tokenizer_find_for_model(a.model) : a.tokenizer;
  hf_write(*model, a.out, w, stderr_progress(a.quiet));
  std::fprintf(stderr, "wrote %s (%s)\n", a.out.c_str(), model->config.summary().c_str());
}

}  // namespace

void register_synth(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a synthetic Hugging Face model with seeded random weights");
  cmd->add_option("out", a->out, "Output directory (must not exist or be empty)")->required();
  cmd->add_option("--arch", a->arch, "llama, mistral or qwen2 (q/k/v biases)")
      ->check(CLI::IsMember({"llama", "mistral", "qwen2"}));
  cmd->add_option("--dim", a->o.dim, "Hidden size");
  cmd->add_option("--hidden-dim", a->o.hidden_dim, "FFN width (0: about 8/3 dim)");
  cmd->add_option("--layers", a->o.n_layers, "Decoder layers");
  cmd->add_option("--heads", a->o.n_heads, "Query heads");
  cmd->add_option("--kv-heads", a->o.n_kv_heads, "Key/value heads (0: = heads)");
  cmd->add_option("--vocab", a->o.vocab_size, "Vocabulary size");
  cmd->add_option("--context", a->o.max_seq_len, "Context length");
  cmd->add_flag("--bias", a->o.qkv_bias, "q/k/v biases (always on for qwen2)");
  cmd->add_flag("--tied", a->o.tied_embeddings, "Tie lm_head to the embedding");
  cmd->add_option("--outliers", a->o.outliers, "Planted outlier channels per layer (exactly compensated)");
  cmd->add_option("--outlier-scale", a->o.outlier_scale, "Outlier gain (a power of two)");
  cmd->add_option("--seed", a->o.seed, "Random seed");
  cmd->add_option("--dtype", a->dtype, "Storage dtype: fp32, bf16 or f16")->check(CLI::IsMember({"fp32", "bf16", "f16"}));
  cmd->add_option("--tokenizer", a->tokenizer, "Carry this tokenizer instead of a generated one (vocab must match)");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_synth(*a); });
}

void register_convert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand("convert", "Write any loadable model as a Hugging Face directory");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--out", a->out, "Output directory (must not exist or be empty)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "Tokenizer to carry along (default: the one next to the model)");
  cmd->add_option("--dtype", a->dtype, "Storage dtype: fp32, bf16 or f16")->check(CLI::IsMember({"fp32", "bf16", "f16"}));
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_convert(*a); });
}

}  // namespace ostq::cli
