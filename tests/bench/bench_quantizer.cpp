// SPDX-License-Identifier: Apache-2.0
// Dynamic activation fake-quant: the fused CPU kernel vs the reference tensor composition
// (baseline, same run) on activation shapes of the stories110M shape (T = 1024 tokens; d 768,
// d_ff 2048, o_proj input per head of 64). Prints medians and the speed-up.
// Usage: bench_quantizer [repeats] [threads]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "core/engine/runtime.h"
#include "core/quant/quantizer.h"

using namespace ostq;
using ostq_bench::median_seconds;

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 21;
  runtime_init(argc > 2 ? std::atoi(argv[2]) : 0);
  torch::NoGradGuard no_grad;
  std::printf("bench_quantizer: %s, median of %d\n", runtime_description().c_str(), repeats);
  std::printf("| tensor | quantizer | reference ms | kernel ms | speed-up |\n|---|---|---:|---:|---:|\n");
  struct Case {
    const char* name;
    std::vector<int64_t> shape;
    int64_t group;
  };
  for (const Case& c : {Case{"attn_input [4,1024,768]", {4, 1024, 768}, 0},
                        Case{"down_proj_input [4,1024,2048]", {4, 1024, 2048}, 0},
                        Case{"o_proj_input [4,1024,768] g64", {4, 1024, 768}, 64}}) {
    ActQuantSpec spec;
    spec.bits = 4;
    spec.group_size = c.group;
    at::Tensor x = torch::randn(c.shape);
    const double ref = median_seconds(repeats, [&] { fake_quant_activation_reference(x, spec); });
    const double fast = median_seconds(repeats, [&] { fake_quant_activation(x, spec); });
    std::printf("| %s | %s | %.2f | %.2f | %.2fx |\n", c.name, spec.describe().c_str(), 1e3 * ref, 1e3 * fast, ref / fast);
  }
  return 0;
}
