// SPDX-License-Identifier: Apache-2.0
// hadamard_transform (fast Kronecker Walsh–Hadamard kernel) against a dense fp32 matmul with the
// prebuilt H/√n, on the H_ff shapes of LLaMA-2-7B (d_ff 11008 = 172·64) and stories15M
// (768 = 12·64), 2048 tokens; also the in-place form, which skips the copy. Prints medians and
// the ratio. Usage: bench_hadamard [repeats]   (threads: OMP_NUM_THREADS)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_util.h"
#include "core/quant/hadamard.h"

using ostq_bench::median_seconds;

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::printf("bench_hadamard: %d intra-op threads, median of %d\n", at::get_num_threads(), repeats);
  for (int64_t n : {768, 11008}) {
    const int64_t rows = 2048;
    at::Generator gen = at::detail::createCPUGenerator(1);
    const at::Tensor x = at::randn({rows, n}, gen, at::TensorOptions().dtype(at::kFloat));
    const at::Tensor m = (ostq::hadamard_matrix(n) / std::sqrt(static_cast<double>(n))).to(at::kFloat);
    at::Tensor fast, dense;
    const double t_fast = median_seconds(repeats, [&] { fast = ostq::hadamard_transform(x); });
    at::Tensor inplace = x.clone();
    const double t_inplace = median_seconds(repeats, [&] { ostq::hadamard_transform_(inplace); });
    const double t_dense = median_seconds(std::min(repeats, 3), [&] { dense = at::matmul(x, m); });
    const double err = (fast - dense).norm().item<double>() / dense.norm().item<double>();
    std::printf("[%lld, %lld]  fast %8.2f ms (in place %8.2f ms)   dense matmul %9.2f ms   dense/fast %6.1fx"
                "   rel err %.1e\n",
                static_cast<long long>(rows), static_cast<long long>(n), 1e3 * t_fast, 1e3 * t_inplace,
                1e3 * t_dense, t_dense / t_fast, err);
  }
  return 0;
}
