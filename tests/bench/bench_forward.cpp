// SPDX-License-Identifier: Apache-2.0
// Forward throughput of the engine on the stories110M shape (d 768, 12 layers, 12 heads, ffn 2048,
// vocab 32000) at seqlen 1024, next to a plain torch::matmul of comparable size measured in the
// same run, for fp32 and bf16. Prints medians and the ratio. Usage: bench_forward [repeats] [threads]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/synth.h"

using namespace ostq;
using ostq_bench::median_seconds;

namespace {

// Multiply-adds ×2 of one forward over T tokens: the seven linears and lm_head, plus QKᵀ and PV
// over the full T×T score matrix (the engine computes it whole and masks).
double forward_flops(const ModelConfig& c, int64_t T) {
  double linear_params = static_cast<double>(c.n_layers) *
                             (c.dim * c.q_dim() * 2.0 + 2.0 * c.kv_dim() * c.dim + 3.0 * c.dim * c.hidden_dim) +
                         static_cast<double>(c.vocab_size) * c.dim;
  double attention = 4.0 * static_cast<double>(T) * T * c.q_dim() * c.n_layers;
  return 2.0 * T * linear_params + attention;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 5;
  runtime_init(argc > 2 ? std::atoi(argv[2]) : 0);
  torch::NoGradGuard no_grad;
  std::printf("bench_forward: %s\n", runtime_description().c_str());
  const SynthOptions s = ostq_bench::stories110m_shape();
  auto base = synth_model(s);
  const int64_t T = 1024;
  at::Tensor tokens = torch::randint(3, s.vocab_size, {1, T}, torch::kLong);
  const double flops = forward_flops(base->config, T);
  std::printf("model stories110M shape (%s), seqlen %lld, %.1f GFLOP per forward, median of %d\n",
              base->config.summary().c_str(), static_cast<long long>(T), flops / 1e9, repeats);
  std::printf("| dtype | forward s | tokens/s | forward GFLOP/s | matmul 1024x768x2048 GFLOP/s | ratio | matmul 2048^3 GFLOP/s |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (ComputeDType dt : {ComputeDType::kFloat32, ComputeDType::kBFloat16}) {
    Model model = *base;
    model_to_dtype(model, dt);
    const at::ScalarType st = model.dtype;
    double fwd = median_seconds(repeats, [&] { model_forward(model, tokens); });
    at::Tensor a = torch::randn({T, 768}).to(st), b = torch::randn({768, 2048}).to(st);
    double mm = median_seconds(4 * repeats, [&] { torch::matmul(a, b); });
    at::Tensor c = torch::randn({2048, 2048}).to(st), d = torch::randn({2048, 2048}).to(st);
    double big = median_seconds(repeats, [&] { torch::matmul(c, d); });
    const double fwd_gf = flops / fwd / 1e9;
    const double mm_gf = 2.0 * T * 768 * 2048 / mm / 1e9;
    std::printf("| %s | %.3f | %.0f | %.1f | %.1f | %.2f | %.1f |\n", compute_dtype_name(dt), fwd, T / fwd, fwd_gf,
                mm_gf, fwd_gf / mm_gf, 2.0 * 2048 * 2048 * 2048 / big / 1e9);
  }
  return 0;
}
