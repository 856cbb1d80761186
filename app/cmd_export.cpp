// SPDX-License-Identifier: Apache-2.0
// `ostq export BUNDLE --format F --out PATH` converts a bundle written by `ostq quantize` /
// `ostq calibrate` into a format other runtimes load, then verifies it; `ostq verify PATH
// --against BUNDLE` re-checks an export later.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "app/export_run.h"
#include "core/export/export_reader.h"
#include "core/export/hf_dense_export.h"
#include "core/quant/quantized_io.h"
#include "core/util/file_util.h"

namespace ostq::cli {

namespace {

QuantizedModel load_bundle_or_throw(const std::string& path) {
  if (!is_quantized_model_dir(path)) {
    throw_invalid(path + ": not an ostq bundle (a directory with " + std::string(kQuantManifestName) +
                  ", written by `ostq quantize --out` or `ostq calibrate --out`)");
  }
  Result<QuantizedModel> q = quantized_model_load(path);
  throw_if_error(q.status());
  return std::move(q).value();
}

// The bundle an export names as its source (hf-dense records it), or "".
std::string recorded_source(const std::string& path) {
  if (!is_hf_dense_export(path)) return "";
  nlohmann::json j = nlohmann::json::parse(read_file(path_join(path, "config.json")), nullptr, false);
  return j.is_object() ? j[kOstqQuantizationKey].value("source", "") : "";
}

struct VerifyArgs {
  std::string path, against, data, tokenizer;
  int64_t windows = 40, seqlen = 0;
  bool quiet = false;
};

void run_verify(const VerifyArgs& a) {
  const std::string against = a.against.empty() ? recorded_source(a.path) : a.against;
  if (against.empty()) throw_invalid(a.path + ": pass --against BUNDLE (the bundle this export was written from)");
  QuantizedModel q = load_bundle_or_throw(against);
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *q.model);
  VerifyOptions v;
  v.data_file = a.data;
  v.max_windows = a.windows;
  v.seqlen = a.seqlen;
  v.progress = stderr_progress(a.quiet);
  Result<VerifyReport> r = verify_export(a.path, q, tokenizer.get(), v);
  throw_if_error(r.status());
  std::printf("artifact    %s (%s), source %s\n", a.path.c_str(), artifact_kind_name(r->kind), against.c_str());
  for (const std::string& c : r->checks) std::printf("verified    %s\n", c.c_str());
  if (!r->passed) throw_invalid(a.path + ": verification failed: " + r->failure);
  std::printf("verdict     PASS\n");
}

}  // namespace

void register_export(CLI::App& app) {
  struct Args {
    std::string bundle;
    ExportRunArgs run;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("export", "Convert an ostq bundle to a runtime format and verify the result");
  cmd->add_option("bundle", a->bundle, "Directory written by `ostq quantize --out` or `ostq calibrate --out`")->required();
  cmd->add_option("--format", a->run.format, "hf-dense, gptq, compressed-tensors, gguf or llama2c")->required();
  cmd->add_option("--out", a->run.out, "Output path (default: BUNDLE.gguf, BUNDLE.bin or BUNDLE-FORMAT/)");
  cmd->add_option("--tokenizer", a->run.tokenizer, "Tokenizer to carry (default: the bundle's)");
  cmd->add_option("--verify-data", a->run.verify_data, "Text to compare perplexities of the export and the bundle");
  cmd->add_option("--verify-windows", a->run.verify_windows, "Windows for that comparison (default 40)");
  cmd->add_option("--seqlen", a->run.seqlen, "Window length of the comparison (default min(2048, context))");
  cmd->add_option("--llama2c-version", a->run.llama2c_version, "llama2c: 0 = fp32 (default), 2 = Q8_0 groups");
  cmd->add_option("--dense-dtype", a->run.dense_dtype, "hf-dense weights: fp32 (default), fp16 or bf16");
  cmd->add_flag("--quiet", a->run.quiet, "No progress on stderr");
  cmd->callback([a] {
    QuantizedModel q = load_bundle_or_throw(a->bundle);
    const std::string tokenizer_path = a->run.tokenizer.empty() ? bundle_tokenizer_path(a->bundle) : a->run.tokenizer;
    auto tokenizer = load_tokenizer_or_throw(tokenizer_path, *q.model);
    run_export(q, a->bundle, *tokenizer, tokenizer_path, a->run);
  });
}

void register_verify(CLI::App& app) {
  auto a = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand("verify", "Reload an export and compare it with the bundle it came from");
  cmd->add_option("path", a->path, "Exported file or directory")->required();
  cmd->add_option("--against", a->against, "The ostq bundle it was exported from (hf-dense records it)");
  cmd->add_option("--data", a->data, "Text for the perplexity comparison (default: weights and configuration only)");
  cmd->add_option("--max-windows", a->windows, "Windows for the perplexity comparison (default 40)");
  cmd->add_option("--seqlen", a->seqlen, "Window length (default min(2048, context))");
  cmd->add_option("--tokenizer", a->tokenizer, "Tokenizer (default: the bundle's)");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_verify(*a); });
}

}  // namespace ostq::cli
