// SPDX-License-Identifier: Apache-2.0
// Sequential GPTQ on the stories110M shape (d 768, 12 layers, 12 heads, ffn 2048, vocab 32000):
// seconds per layer for the whole pass (Hessian collection with the layer-wise runner + the
// per-linear solves), next to a plain forward over the same calibration windows measured in the
// same run (baseline), and RTN for reference. Usage: bench_gptq [windows] [seqlen] [threads]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/synth.h"
#include "core/quant/gptq_model.h"
#include "core/quant/methods.h"

using namespace ostq;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t windows = argc > 1 ? std::atoll(argv[1]) : 8;
  const int64_t seqlen = argc > 2 ? std::atoll(argv[2]) : 512;
  runtime_init(argc > 3 ? std::atoi(argv[3]) : 0);
  torch::NoGradGuard no_grad;
  std::printf("bench_gptq: %s\n", runtime_description().c_str());
  const SynthOptions s = ostq_bench::stories110m_shape();
  auto base = synth_model(s);
  at::Generator gen = at::detail::createCPUGenerator(1);
  at::Tensor calib = torch::randint(3, s.vocab_size, {windows, seqlen}, gen, torch::kLong);
  std::printf("model stories110M shape (%s), calibration %lld x %lld tokens, W4 sym per-channel mse(2.4), block 128\n",
              base->config.summary().c_str(), static_cast<long long>(windows), static_cast<long long>(seqlen));

  auto t0 = std::chrono::steady_clock::now();
  for (int64_t w = 0; w < windows; w += 4) model_forward(*base, calib.narrow(0, w, std::min<int64_t>(4, windows - w)));
  const double forward_s = seconds_since(t0);

  Model rtn = *base;
  WeightQuantSpec spec;
  spec.bits = 4;
  t0 = std::chrono::steady_clock::now();
  rtn_quantize_model(rtn, spec);
  const double rtn_s = seconds_since(t0);

  Model model = *base;
  GptqOptions o;
  o.spec = spec;
  t0 = std::chrono::steady_clock::now();
  std::vector<GptqLinearReport> report = gptq_quantize_model(model, calib, o, 4);
  const double gptq_s = seconds_since(t0);
  double solve_s = 0.0, ratio = 0.0;
  for (const GptqLinearReport& r : report) {
    solve_s += r.seconds;
    ratio += r.error / std::max(r.rtn_error, 1e-30);
  }
  const double layers = static_cast<double>(s.n_layers);
  std::printf("| step | seconds | per layer |\n|---|---:|---:|\n");
  std::printf("| plain forward over the calibration windows (baseline) | %.2f | %.3f |\n", forward_s, forward_s / layers);
  std::printf("| RTN, all 84 linears | %.2f | %.3f |\n", rtn_s, rtn_s / layers);
  std::printf("| GPTQ total (sequential: Hessians + solves) | %.2f | %.3f |\n", gptq_s, gptq_s / layers);
  std::printf("|   of which per-linear solves | %.2f | %.3f |\n", solve_s, solve_s / layers);
  std::printf("GPTQ / forward ratio %.2f; mean GPTQ/RTN layer reconstruction error %.3f\n", gptq_s / forward_s,
              ratio / static_cast<double>(report.size()));
  return 0;
}
