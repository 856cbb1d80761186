// SPDX-License-Identifier: Apache-2.0
// Cost of the analysis on the stories110M shape (d 768, ff 2048, 12 layers, 12 heads, vocab 32000,
// ctx 1024; synthetic weights, built in memory): a plain forward over N windows against the
// layer-by-layer capture over the same windows (goal: capture ≤ 1.5× a forward), and the QSUR
// seconds for every site and weight of the model. Medians of `repeats` runs after a warm-up.
// Usage: bench_analysis [windows=2] [seqlen=512] [repeats=3] [threads=0]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "core/analysis/capture.h"
#include "core/analysis/qsur.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/synth.h"

using namespace ostq;
using ostq_bench::median_seconds;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct CaptureTimes {
  double wall = 0, capture = 0, weights = 0, qsur = 0;
};

CaptureTimes run_capture(const Model& model, const at::Tensor& tokens, const CaptureOptions& o) {
  CaptureTimes t;
  const double t0 = now_s();
  ActivationCapture capture(model, tokens, o);
  auto r = capture.capture_all();
  if (!r.is_ok()) {
    std::fprintf(stderr, "capture failed: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  t.wall = now_s() - t0;
  for (const LayerAnalysis& l : r.value()) {
    t.capture += l.capture_seconds;
    t.weights += l.weight_seconds;
    t.qsur += l.qsur_seconds;
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t windows = argc > 1 ? std::atoll(argv[1]) : 2;
  const int64_t seqlen = argc > 2 ? std::atoll(argv[2]) : 512;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  runtime_init(argc > 4 ? std::atoi(argv[4]) : 0);
  torch::NoGradGuard no_grad;
  std::printf("bench_analysis: %s\n", runtime_description().c_str());
  const SynthOptions s = ostq_bench::stories110m_shape();
  auto model = synth_model(s);
  at::Generator gen = at::detail::createCPUGenerator(1);
  at::Tensor tokens = torch::randint(3, s.vocab_size, {windows, seqlen}, gen, torch::kLong);
  std::printf("model stories110M shape (%s), %lld windows x %lld tokens, median of %d\n\n",
              model->config.summary().c_str(), static_cast<long long>(windows),
              static_cast<long long>(seqlen), repeats);

  // Baselines: the plain forward (all logits, as perplexity runs it) and without the lm_head.
  // Capture: forward + activation statistics with (full) or without (statistics only) the d×d
  // covariance accumulation; weight statistics and QSUR are per-model costs, reported apart.
  // The four are interleaved in every repeat so a change in machine load hits all of them.
  auto forward = [&](LogitsMode mode) {
    ForwardOptions fo;
    fo.logits = mode;
    for (int64_t b = 0; b < windows; ++b) model_forward(*model, tokens.narrow(0, b, 1), fo);
  };
  auto timed = [](auto&& fn) {
    const double t0 = now_s();
    fn();
    return now_s() - t0;
  };
  CaptureOptions stats_only, full, full64;
  stats_only.qsur = false;
  stats_only.weights = false;
  for (CaptureOptions* o : {&stats_only, &full, &full64}) o->batch = 1;
  full64.fp64_products = true;
  forward(LogitsMode::kAll);  // warm-up
  run_capture(*model, tokens, stats_only);
  std::vector<double> fwd_all, fwd_last;
  std::vector<CaptureTimes> cap_stats, cap_full;
  for (int i = 0; i < repeats; ++i) {
    fwd_all.push_back(timed([&] { forward(LogitsMode::kAll); }));
    fwd_last.push_back(timed([&] { forward(LogitsMode::kLast); }));
    cap_stats.push_back(run_capture(*model, tokens, stats_only));
    cap_full.push_back(run_capture(*model, tokens, full));
  }
  const CaptureTimes cap_full64 = run_capture(*model, tokens, full64);
  auto med = [](const std::vector<CaptureTimes>& runs, double CaptureTimes::*f) {
    std::vector<double> v;
    for (const CaptureTimes& t : runs) v.push_back(t.*f);
    return median(v);
  };
  const double fa = median(fwd_all), fl = median(fwd_last);
  std::printf("plain forward, all logits        %8.3f s  (%.0f tokens/s)\n", fa,
              tokens.numel() / fa);
  std::printf("plain forward, last logit only   %8.3f s\n\n", fl);
  std::printf(
      "| capture | capture s | / forward (all logits) | / forward (last logit) | weights s | QSUR "
      "s | wall s |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, const std::vector<CaptureTimes>& runs) {
    const double cap = med(runs, &CaptureTimes::capture);
    std::printf("| %s | %.3f | %.2f | %.2f | %.3f | %.3f | %.3f |\n", name, cap, cap / fa, cap / fl,
                med(runs, &CaptureTimes::weights), med(runs, &CaptureTimes::qsur),
                med(runs, &CaptureTimes::wall));
  };
  row("statistics only (no covariance)", cap_stats);
  row("full: + covariance (fp32 SYRK), weights, QSUR", cap_full);
  row("full, fp64 covariance products (1 run)", {cap_full64});
  std::printf(
      "\ngoal: capture <= 1.5x a forward; QSUR of all %lld sites and weights: seconds, not "
      "minutes\n",
      static_cast<long long>(13 * s.n_layers));

  // One QSUR at each width, split into its parts (dense random SPD covariance).
  std::printf(
      "\n| d | top eigenpair s | Lanczos steps | log det (Cholesky) s | qsur_from_moments s "
      "|\n|---:|---:|---:|---:|---:|\n");
  for (int64_t d : {768, 2048}) {
    at::Tensor a = torch::randn({d + 256, d}, gen, torch::kDouble);
    at::Tensor cov = at::mm(a.t(), a) / static_cast<double>(d + 256);
    at::Tensor mean = torch::zeros({d}, torch::kDouble);
    TopEigen top;
    const double te = median_seconds(repeats, [&] { top = top_eigenpair(cov); });
    const double tc = median_seconds(repeats, [&] { log_det_floored(cov, top.value, 1e-12); });
    const double tq = median_seconds(repeats, [&] { qsur_from_moments(mean, cov, d + 256); });
    std::printf("| %lld | %.3f | %lld | %.3f | %.3f |\n", static_cast<long long>(d), te,
                static_cast<long long>(top.iterations), tc, tq);
  }
  return 0;
}
