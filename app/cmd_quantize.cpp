// SPDX-License-Identifier: Apache-2.0
// `ostq quantize MODEL --method M --bits W-A-KV --out DIR`: runs a method and saves the quantized
// model in the workbench's own format (HF directory + ostq_quant.json) that `ostq eval` and
// `ostq generate` load with its activation quantizers. Optionally evaluates it right away.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "app/export_run.h"
#include "core/eval/calibration.h"
#include "core/quant/methods.h"
#include "core/quant/quantized_io.h"

namespace ostq::cli {

namespace {

struct QuantizeArgs {
  std::string model, tokenizer, method = "rtn", bits = "4-16-16", calib, out, dtype = "fp32", protocol = "plain";
  std::vector<std::string> overrides;
  bool gptq = false, act_order = false, quiet = false, no_online_hadamard = false;
  ExportRunArgs export_run;  // --format: also export (and verify) right after saving
  int64_t seqlen = 0, calib_windows = 128, batch = 4, group = -1;
  uint64_t seed = 42;
  double alpha = 0.5, damp = 0.01;
};

void print_gptq_report(const QuantizedModel& q) {
  if (q.gptq.empty()) return;
  std::printf("GPTQ layer reconstruction error (mean over calibration tokens of |x(W-Q)^T|^2):\n");
  std::printf("  layer  linear      gptq          rtn           gptq/rtn\n");
  for (const GptqLinearReport& r : q.gptq) {
    std::printf("  %5lld  %-10s  %-12.5g  %-12.5g  %.3f\n", static_cast<long long>(r.layer), linear_name(r.linear),
                r.error, r.rtn_error, r.rtn_error > 0 ? r.error / r.rtn_error : 1.0);
  }
}

void run_quantize(const QuantizeArgs& a) {
  auto model = load_model_or_throw(a.model, a.dtype);
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *model);
  QuantizeOptions o;
  Result<MethodSpec> method = method_spec_parse(a.method);
  throw_if_error(method.status());
  o.method = method.value();
  if (a.gptq) o.method.gptq_weights = true;
  Result<QuantConfig> config = quant_config_parse(a.bits, model->config.head_dim);
  throw_if_error(config.status());
  o.config = config.value();
  if (a.group >= 0) throw_if_error(quant_config_override(o.config, "weight=" + std::to_string(o.config.weight.bits) +
                                                                       ":g" + std::to_string(a.group)));
  for (const std::string& ov : a.overrides) throw_if_error(quant_config_override(o.config, ov));
  o.seed = a.seed;
  o.smooth_alpha = a.alpha;
  o.batch = a.batch;
  o.gptq_damp = a.damp;
  o.gptq_act_order = a.act_order;
  o.online_ffn_hadamard = !a.no_online_hadamard;
  o.progress = stderr_progress(a.quiet);
  if (method_needs_calibration(o.method, o.config)) {
    if (a.calib.empty()) throw_invalid(o.method.name() + " needs --calib FILE (calibration text)");
    Result<TextProtocol> protocol = text_protocol_parse(a.protocol);
    throw_if_error(protocol.status());
    std::vector<int32_t> tokens = tokenize_text_file(*tokenizer, a.calib, protocol.value());
    const int64_t seqlen = a.seqlen > 0 ? a.seqlen : default_window_length(model->config);
    o.calibration = sample_windows(tokens, 0, static_cast<int64_t>(tokens.size()), seqlen, a.calib_windows, a.seed);
  }
  Result<QuantizedModel> q = quantize_model(*model, o);
  throw_if_error(q.status());
  std::printf("method      %s (%.1f s)\n", q->method.c_str(), q->seconds);
  std::printf("quantizers  %s\n", q->config.describe().c_str());
  for (const std::string& n : q->notes) std::printf("note        %s\n", n.c_str());
  print_gptq_report(q.value());
  std::string tokenizer_path = a.tokenizer.empty() ? tokenizer_find_for_model(model->path) : a.tokenizer;
  quantized_model_save(q.value(), a.out, tokenizer_path, o.progress);
  std::printf("saved       %s (evaluate with: ostq eval %s --data FILE)\n", a.out.c_str(), a.out.c_str());
  if (!a.export_run.format.empty()) {
    ExportRunArgs e = a.export_run;
    e.quiet = a.quiet;
    run_export(q.value(), a.out, *tokenizer, tokenizer_path, e);
  }
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model with rtn, smoothquant, gptq or quarot and save it");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--method", a->method, "rtn, smoothquant, gptq, quarot (X+gptq: GPTQ weights)");
  cmd->add_option("--bits", a->bits, "W-A-KV bits, e.g. 4-16-16, 4-4-16, 4-4-4, 8-8-8 (16 = off)");
  cmd->add_option("--override", a->overrides,
                  "SITE=BITS[:sym|:asym][:gN][:clipX][:absmax][:nomse]; SITE = weight, act, kv, attn_input, "
                  "o_proj_input, ffn_input, down_proj_input, key_rope, value. Repeatable");
  cmd->add_option("--group", a->group, "Weight group size (0 = per output channel)");
  cmd->add_flag("--gptq", a->gptq, "GPTQ instead of RTN for the weights");
  cmd->add_flag("--act-order", a->act_order, "GPTQ: process columns by descending Hessian diagonal");
  cmd->add_option("--damp", a->damp, "GPTQ damping (fraction of the mean Hessian diagonal, default 0.01)");
  cmd->add_option("--calib", a->calib, "Calibration text (SmoothQuant statistics, GPTQ Hessians)");
  cmd->add_option("--calib-windows", a->calib_windows, "Calibration windows (default 128)");
  cmd->add_option("--seqlen", a->seqlen, "Calibration window length (default min(2048, model context))");
  cmd->add_option("--seed", a->seed, "Seed (rotations, window sampling; default 42)");
  cmd->add_option("--alpha", a->alpha, "SmoothQuant migration strength (default 0.5)");
  cmd->add_option("--batch", a->batch, "Windows per forward pass during calibration");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--protocol", a->protocol, "plain or rows (how the calibration text is read)")
      ->check(CLI::IsMember({"plain", "rows"}));
  cmd->add_option("--out", a->out, "Output directory (must not exist)")->required();
  cmd->add_flag("--no-online-hadamard", a->no_online_hadamard,
                "No online H_ff on the down_proj input (weight-only results for gptq / gguf / llama2c exports)");
  a->export_run.format.clear();
  cmd->add_option("--format", a->export_run.format,
                  "Also export the saved bundle: hf-dense, gptq, compressed-tensors, gguf or llama2c (verified after writing)");
  cmd->add_option("--export-out", a->export_run.out, "Export path (default: OUT.gguf, OUT.bin or OUT-FORMAT/)");
  cmd->add_option("--verify-data", a->export_run.verify_data, "Text for the export's perplexity check");
  cmd->add_option("--llama2c-version", a->export_run.llama2c_version, "llama2c export: 0 = fp32 (default), 2 = Q8_0");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_quantize(*a); });
}

}  // namespace ostq::cli
