// SPDX-License-Identifier: Apache-2.0
// `ostq compare MODEL --methods … --bits … --data FILE`: perplexity and gap to FP per method and
// W-A-KV configuration, as a markdown table (or --json / --csv), with the settings used.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>

#include "app/cli_common.h"
#include "app/commands.h"
#include "app/learn_args.h"
#include "core/quant/compare.h"

namespace ostq::cli {

namespace {

struct CompareArgs {
  std::string model, tokenizer, data, calib, dtype = "fp32", protocol = "plain";
  std::string methods = "rtn,smoothquant,gptq,quarot", bits = "4-16-16,4-4-16,4-4-4";
  std::vector<std::string> overrides;
  int64_t seqlen = 0, calib_windows = 128, max_windows = 0, batch = 4;
  uint64_t seed = 42;
  double alpha = 0.5, calib_fraction = 0.2;
  bool json = false, csv = false, quiet = false;
  LearnArgs learn;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string percent(double gap) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%+.1f%%", 100.0 * gap);
  return buf;
}

void print_markdown(const CompareResult& r, const CompareArgs& a) {
  std::printf("| Method | W-A-KV | PPL | Gap to FP |\n|---|---|---:|---:|\n");
  std::printf("| FP (%s) | 16-16-16 | %.4f | — |\n", a.dtype.c_str(), r.fp_ppl);
  for (const CompareRow& row : r.rows) {
    std::printf("| %s | %s | %.4f | %s |\n", row.method.c_str(), row.bits.c_str(), row.ppl, percent(row.gap).c_str());
  }
  std::printf("\n");
  for (const auto& [k, v] : r.settings) std::printf("- %s: %s\n", k.c_str(), v.c_str());
  if (!r.rows.empty()) {
    std::printf("- quantizers (%s): %s\n", r.rows.front().bits.c_str(), r.rows.front().quantizers.c_str());
  }
  for (const CompareRow& row : r.rows) {
    if (!row.learning.empty()) {
      std::printf("- %s %s: %s; loss %.5g -> %.5g, %.0f s\n", row.method.c_str(), row.bits.c_str(),
                  row.learning.c_str(), row.first_loss, row.final_loss, row.quantize_seconds);
    }
  }
}

void run_compare(const CompareArgs& a) {
  auto model = load_model_or_throw(a.model, a.dtype);
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *model);
  CompareOptions o;
  for (const std::string& m : split_list(a.methods)) {
    Result<MethodSpec> spec = method_spec_parse(m);
    throw_if_error(spec.status());
    o.methods.push_back(spec.value());
  }
  o.bits = split_list(a.bits);
  o.overrides = a.overrides;
  o.data_path = a.data;
  o.calib_path = a.calib;
  o.calib_fraction = a.calib_fraction;
  Result<TextProtocol> protocol = text_protocol_parse(a.protocol);
  throw_if_error(protocol.status());
  o.protocol = protocol.value();
  o.seqlen = a.seqlen;
  o.calib_windows = a.calib_windows;
  o.max_eval_windows = a.max_windows;
  o.seed = a.seed;
  o.smooth_alpha = a.alpha;
  o.batch = a.batch;
  o.learn = learn_options_from(a.learn);
  o.progress = stderr_progress(a.quiet);
  Result<CompareResult> r = compare_methods(*model, *tokenizer, o);
  throw_if_error(r.status());
  if (a.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const CompareRow& row : r->rows) {
      rows.push_back({{"method", row.method}, {"bits", row.bits}, {"ppl", row.ppl}, {"gap", row.gap},
                      {"quantize_seconds", row.quantize_seconds}, {"eval_seconds", row.eval_seconds},
                      {"quantizers", row.quantizers}, {"notes", row.notes}, {"learning", row.learning},
                      {"first_loss", row.first_loss}, {"final_loss", row.final_loss}});
    }
    nlohmann::json settings = {{"model", a.model}, {"dtype", a.dtype}, {"data", a.data}};
    for (const auto& [k, v] : r->settings) settings[k] = v;
    nlohmann::json j = {{"fp_ppl", r->fp_ppl}, {"results", rows}, {"settings", settings}};
    std::printf("%s\n", j.dump(2).c_str());
  } else if (a.csv) {
    std::printf("method,bits,ppl,gap\nfp,16-16-16,%.6f,0\n", r->fp_ppl);
    for (const CompareRow& row : r->rows) {
      std::printf("%s,%s,%.6f,%.6f\n", row.method.c_str(), row.bits.c_str(), row.ppl, row.gap);
    }
  } else {
    print_markdown(r.value(), a);
  }
}

}  // namespace

void register_compare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Perplexity of quantization methods x W-A-KV configurations");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--data", a->data, "Evaluation text (UTF-8)")->required();
  cmd->add_option("--calib", a->calib, "Calibration text (default: the first 20% of --data, not evaluated)");
  cmd->add_option("--calib-fraction", a->calib_fraction, "Part of --data used for calibration without --calib");
  cmd->add_option("--methods", a->methods, "Comma list: rtn, smoothquant, gptq, quarot, spinquant, ostquant; X+gptq for GPTQ weights; "
                  "ostquant ablations: ostquant:hadamard|womi:noscales:kl_top|kl|ce:wfq (wfq: fake-quantize weights in training)");
  cmd->add_option("--bits", a->bits, "Comma list of W-A-KV bit strings, e.g. 4-16-16,4-4-16,4-4-4");
  cmd->add_option("--override", a->overrides, "Quantizer override SITE=BITS[:opts], repeatable (see `ostq quantize`)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--seqlen", a->seqlen, "Window length (default min(2048, model context))");
  cmd->add_option("--calib-windows", a->calib_windows, "Calibration windows (default 128)");
  cmd->add_option("--max-windows", a->max_windows, "Evaluate at most this many windows (0 = all)");
  cmd->add_option("--seed", a->seed, "Seed for rotations and calibration sampling (default 42)");
  cmd->add_option("--alpha", a->alpha, "SmoothQuant migration strength (default 0.5)");
  cmd->add_option("--batch", a->batch, "Windows per forward pass");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--protocol", a->protocol, "plain or rows (see `ostq eval`)")->check(CLI::IsMember({"plain", "rows"}));
  add_learn_options(cmd, a->learn, "--train-batch");
  cmd->add_flag("--json", a->json, "JSON output");
  cmd->add_flag("--csv", a->csv, "CSV output");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_compare(*a); });
}

}  // namespace ostq::cli
