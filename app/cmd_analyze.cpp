// SPDX-License-Identifier: Apache-2.0
// `ostq analyze MODEL --data FILE --out FILE.ostq.h5`: activation and weight statistics with QSUR
// for every layer (core/analysis), optionally after a transform set, written to `.ostq.h5` for the
// GUI; prints a short summary per layer as each layer finishes.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/cli_common.h"
#include "app/commands.h"
#include "core/calib/transform_io.h"
#include "core/util/file_util.h"
#include "core/analysis/analysis.h"
#include "core/analysis/analysis_h5.h"
#include "core/eval/calibration.h"

namespace ostq::cli {

namespace {

struct AnalyzeArgs {
  std::string model, tokenizer, data, out, dtype = "fp32", transform = "none", protocol = "plain";
  std::string learned;
  int64_t windows = 16, seqlen = 0, batch = 0, bins = 128, top_k = 8;
  uint64_t seed = 42;
  double qsur_alpha = 0.99, smooth_alpha = 0.5;
  bool compare = false, center = false, residual = false, json = false, quiet = false;
};

double json_safe(double v) { return std::isfinite(v) ? v : 0.0; }

void print_layer(const LayerAnalysis& l) {
  std::printf("layer %lld  (capture %.2f s, weights %.2f s, QSUR %.2f s)\n",
              static_cast<long long>(l.layer), l.capture_seconds, l.weight_seconds, l.qsur_seconds);
  std::printf("  %-16s %6s %9s %18s %9s %9s %9s\n", "site", "d", "absmax", "top ch (x median)",
              "kurtosis", "QSUR exact", "axis");
  for (const TensorStats& s : l.sites) {
    char top[32] = "-";
    if (!s.topk_channels.empty()) {
      std::snprintf(top, sizeof top, "%lld (%.1fx)", static_cast<long long>(s.topk_channels[0]),
                    s.outlier_ratio);
    }
    std::printf("  %-16s %6lld %9.3g %18s %9.2f", s.name.c_str(),
                static_cast<long long>(s.channels), s.pooled.absmax, top, s.pooled.kurtosis);
    if (s.has_qsur) {
      std::printf(" %9.4f%s %9.4f\n", s.qsur.exact_root, s.qsur.rank_deficient ? "*" : " ",
                  s.qsur.axis_root);
    } else {
      std::printf(" %9s  %9s\n", "-", "-");
    }
  }
  if (!l.weights.empty()) {
    std::printf("  weights QSUR exact:");
    for (const TensorStats& w : l.weights) {
      if (w.has_qsur)
        std::printf(" %s %.4f%s", w.name.c_str(), w.qsur.exact_root,
                    w.qsur.rank_deficient ? "*" : "");
    }
    std::printf("\n");
  }
  std::fflush(stdout);
}

void print_comparison(const QsurComparison& c) {
  std::printf("\nQSUR^(1/d), exact form, per transform set\n  %-5s %-16s %6s", "layer", "site",
              "d");
  for (const std::string& t : c.transforms) std::printf(" %13s", t.c_str());
  std::printf("\n");
  for (const QsurComparison::Row& r : c.rows) {
    if (r.kind != TensorKind::kActivation) continue;
    std::printf("  %-5lld %-16s %6lld", static_cast<long long>(r.layer), r.name.c_str(),
                static_cast<long long>(r.d));
    for (double v : r.exact_root) std::printf(" %13.4f", v);
    std::printf("\n");
  }
}

nlohmann::json stats_json(const TensorStats& s) {
  nlohmann::json j = {{"name", s.name},
                      {"d", s.channels},
                      {"rows", s.rows},
                      {"absmax", s.pooled.absmax},
                      {"kurtosis", s.pooled.kurtosis},
                      {"outlier_ratio", s.outlier_ratio},
                      {"top_channels", s.topk_channels}};
  if (s.has_qsur) {
    j["qsur_exact_root"] = json_safe(s.qsur.exact_root);
    j["qsur_axis_root"] = json_safe(s.qsur.axis_root);
    j["qsur_rank_deficient"] = s.qsur.rank_deficient;
  }
  return j;
}

void run_analyze(const AnalyzeArgs& a) {
  if (!analysis_transform_known(a.transform) || (a.transform == "learned" && a.learned.empty())) {
    throw_invalid("--transform must be one of none, smooth, rotate, rotate+smooth, or learned with --learned (got \"" +
                  a.transform + "\")");
  }
  auto model = load_model_or_throw(a.model, a.dtype);
  // Learned transforms: a transforms.safetensors file or an `ostq calibrate` output directory.
  TransformSet learned;
  if (!a.learned.empty()) {
    const std::string file = is_directory(a.learned) ? path_join(a.learned, "transforms.safetensors") : a.learned;
    learned = load_transform_set(file, model->config);
  }
  auto tokenizer = load_tokenizer_or_throw(a.tokenizer, *model);
  Result<TextProtocol> protocol = text_protocol_parse(a.protocol);
  throw_if_error(protocol.status());
  const int64_t ctx = model->config.max_seq_len;
  const int64_t seqlen = a.seqlen > 0 ? a.seqlen : std::min<int64_t>(512, ctx);
  if (seqlen > ctx) {
    throw_invalid("--seqlen " + std::to_string(seqlen) + " exceeds the model context of " +
                  std::to_string(ctx));
  }
  if (a.windows <= 0) throw_invalid("--windows must be positive");
  std::vector<int32_t> ids = tokenize_text_file(*tokenizer, a.data, protocol.value());
  at::Tensor windows =
      consecutive_windows(ids, 0, static_cast<int64_t>(ids.size()), seqlen, a.windows);
  if (windows.size(0) == 0) {
    throw_invalid(a.data + ": " + std::to_string(ids.size()) +
                  " tokens, shorter than one window of " + std::to_string(seqlen));
  }

  AnalysisOptions o;
  o.transform = a.transform;
  o.seed = a.seed;
  o.smooth_alpha = a.smooth_alpha;
  if (!a.learned.empty()) o.learned = &learned;
  o.data_path = a.data;
  o.tokenizer_path = a.tokenizer;
  o.capture.batch = a.batch;
  o.capture.histogram_bins = a.bins;
  o.capture.top_k = a.top_k;
  o.capture.residual_sites = a.residual;
  o.capture.qsur_options.alpha = a.qsur_alpha;
  o.capture.qsur_options.center = a.center;
  ProgressFn progress = stderr_progress(a.quiet || a.json);
  if (!a.json) {
    std::printf("model       %s (%s, %s)\n", a.model.c_str(), model->config.summary().c_str(),
                a.dtype.c_str());
    std::printf("data        %s: %lld windows x %lld tokens (%s)\n", a.data.c_str(),
                static_cast<long long>(windows.size(0)), static_cast<long long>(seqlen),
                tokenizer->kind().c_str());
    std::printf("transform   %s\n", a.transform.c_str());
    std::printf(
        "QSUR        fp64, log domain, alpha %.3g, %s; * = rank-deficient (eigenvalues "
        "floored)\n\n",
        a.qsur_alpha, a.center ? "mean neglected (centred)" : "mean included in the cube edges");
  }
  LayerCallback on_layer;
  if (!a.json) on_layer = print_layer;
  Result<Analysis> r = run_analysis(*model, windows, o, progress, on_layer);
  throw_if_error(r.status());
  Analysis& analysis = r.value();
  if (a.compare) {
    // The CLI transform sets plus the analysis-only rotate+equalize (smoothing that equalises the
    // diagonal after the rotation: what the exact form rewards, see analysis.h).
    std::vector<std::string> sets = analysis_transform_names();
    sets.push_back("rotate+equalize");
    if (!a.learned.empty()) sets.push_back("learned");
    Result<QsurComparison> c = compare_transforms(*model, windows, sets, o, progress);
    throw_if_error(c.status());
    analysis.comparison = std::move(c).value();
    if (!a.json) print_comparison(analysis.comparison);
  }
  throw_if_error(analysis_save(analysis, a.out));
  if (a.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerAnalysis& l : analysis.layers) {
      nlohmann::json sites = nlohmann::json::array(), weights = nlohmann::json::array();
      for (const TensorStats& s : l.sites) sites.push_back(stats_json(s));
      for (const TensorStats& s : l.weights) weights.push_back(stats_json(s));
      layers.push_back({{"layer", l.layer}, {"sites", sites}, {"weights", weights}});
    }
    nlohmann::json j = {{"model", a.model},
                        {"data", a.data},
                        {"out", a.out},
                        {"transform", a.transform},
                        {"windows", windows.size(0)},
                        {"seqlen", seqlen},
                        {"qsur_alpha", a.qsur_alpha},
                        {"qsur_center", a.center},
                        {"seconds", analysis.info.seconds},
                        {"layers", layers}};
    if (!analysis.comparison.empty()) {
      nlohmann::json rows = nlohmann::json::array();
      for (const QsurComparison::Row& row : analysis.comparison.rows) {
        nlohmann::json er = nlohmann::json::array();
        for (double v : row.exact_root) er.push_back(json_safe(v));
        rows.push_back({{"layer", row.layer},
                        {"name", row.name},
                        {"kind", tensor_kind_name(row.kind)},
                        {"exact_root", er}});
      }
      j["comparison"] = {{"transforms", analysis.comparison.transforms}, {"rows", rows}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("\nwrote %s (%.1f s)\n", a.out.c_str(), analysis.info.seconds);
}

}  // namespace

void register_analyze(CLI::App& app) {
  auto a = std::make_shared<AnalyzeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "analyze", "Activation / weight statistics and QSUR per layer, saved to .ostq.h5");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")
      ->required();
  cmd->add_option("--data", a->data, "UTF-8 calibration text")->required();
  cmd->add_option("--out", a->out, "Output file (.ostq.h5)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--windows", a->windows,
                  "Consecutive windows from the start of the text (default 16)");
  cmd->add_option("--seqlen", a->seqlen, "Tokens per window (default min(512, model context))");
  cmd->add_option("--transform", a->transform, "Transform set before the capture")
      ->check(CLI::IsMember({"none", "smooth", "rotate", "rotate+smooth", "learned"}));
  cmd->add_option("--learned", a->learned,
                  "Learned transforms (transforms.safetensors or an `ostq calibrate` output directory): "
                  "--transform learned, and a \"learned\" column in --compare-transforms");
  cmd->add_option("--seed", a->seed, "Seed of the random Hadamard signs (default 42)");
  cmd->add_option("--smooth-alpha", a->smooth_alpha,
                  "SmoothQuant migration strength (default 0.5)");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--protocol", a->protocol, "Text protocol: plain or rows")
      ->check(CLI::IsMember({"plain", "rows"}));
  cmd->add_option("--batch", a->batch, "Windows per forward (default: about 2048 tokens)");
  cmd->add_option("--bins", a->bins, "Histogram bins (even, default 128)");
  cmd->add_option("--top-k", a->top_k, "Outlier channels reported per tensor (default 8)");
  cmd->add_option("--qsur-alpha", a->qsur_alpha,
                  "Confidence level of the QSUR ellipsoid (default 0.99)");
  cmd->add_flag("--qsur-center", a->center, "Neglect the mean in the QSUR cube edges");
  cmd->add_flag("--residual-sites", a->residual, "Also capture residual_mid and residual_out");
  cmd->add_flag("--compare-transforms", a->compare,
                "Also tabulate QSUR for none, smooth, rotate, rotate+smooth (+ analysis-only "
                "rotate+equalize)");
  cmd->add_flag("--json", a->json, "Machine-readable summary on stdout");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_analyze(*a); });
}

}  // namespace ostq::cli
