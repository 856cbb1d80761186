// SPDX-License-Identifier: Apache-2.0
// The low-bit kernels of kernels/lowbit.h against LibTorch on the LLaMA-2-7B linear shapes, every
// host variant, baselines measured in the same run (medians):
//   1. memcpy bandwidth (the GEMV's roofline), 2. W4A16 GEMV (batch 1) and GEMM (batch B) vs
//   torch::matmul fp32 and bf16, 3. W8A8 / W4A4 integer GEMM at batch B vs fp32 (with and without
//   the activation quantization), 4. FWHT vs the dense Hadamard matmul, n = 4096, 8192, 11008.
// torch::matmul fp32 is OpenBLAS as the rest of the project runs it (OpenBLAS picks its kernel
// when the library loads: Haswell on the build machine's EPYC, ENVIRONMENT.md §6); with
// --skylakex the bench re-executes itself with OPENBLAS_CORETYPE=SkylakeX (only when the CPU has
// avx512f), the faster fp32 baseline. The core name in use is printed.
// Usage: bench_kernels [batch=2048] [repeats=5] [--skylakex]      (threads: OMP_NUM_THREADS)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/engine/runtime.h"
#include "core/quant/hadamard.h"
#include "core/quant/hadamard_build.h"
#include "kernels/device_info.h"
#include "kernels/lowbit.h"

using namespace ostq::kernels;
using ostq_bench::median_seconds;

namespace {

struct Layer {
  int64_t k, n;  // in, out
  const char* name;
};
const Layer kLayers[] = {{4096, 4096, "q/k/v/o 4096->4096"}, {4096, 11008, "gate/up 4096->11008"},
                         {11008, 4096, "down 11008->4096"}};

const char* openblas_core() {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn ? fn() : "unknown (no openblas_get_corename)";
}

std::vector<const LowBitOps*> host_variants(bool with_reference) {
  std::vector<const LowBitOps*> v;
  for (const LowBitOps* ops : lowbit_variants())
    if (ops->memory == MemorySpace::kHost && (with_reference || std::strcmp(ops->name, "reference") != 0))
      v.push_back(ops);
  return v;
}

// Random codes, per-group scale/zero (sym: zero 2^{b−1}); returns the store and W dequantized fp32 [n, k].
LowBitWeightStore make_weights(int bits, bool sym, int64_t n, int64_t k, int64_t group, at::Tensor* dequant) {
  std::mt19937 rng(static_cast<uint32_t>(n + k + bits));
  const int qmax = (1 << bits) - 1;
  std::vector<int32_t> codes(static_cast<size_t>(n * k));
  for (int32_t& c : codes) c = static_cast<int32_t>(rng() % (qmax + 1));
  const int64_t groups = k / group;
  std::vector<float> scale(static_cast<size_t>(n * groups)), zero(scale.size());
  for (size_t i = 0; i < scale.size(); ++i) {
    scale[i] = 0.01f + 0.001f * static_cast<float>(rng() % 16);
    zero[i] = sym ? static_cast<float>(1 << (bits - 1)) : static_cast<float>(rng() % (qmax + 1));
  }
  LowBitWeightStore w = pack_lowbit_weights(codes.data(), scale.data(), zero.data(), bits, n, k, group);
  if (dequant) {
    *dequant = at::empty({n, k}, at::kFloat);
    float* d = dequant->data_ptr<float>();
    for (int64_t i = 0; i < n * k; ++i) {
      const int64_t g = (i / k) * groups + (i % k) / group;
      d[i] = (static_cast<float>(codes[i]) - zero[g]) * scale[g];
    }
  }
  return w;
}

double rel_err(const at::Tensor& got, const at::Tensor& ref) {
  return (got - ref).norm().item<double>() / std::max(ref.norm().item<double>(), 1e-30);
}

double bandwidth_gbs(int repeats) {
  const size_t bytes = size_t{512} << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  const double t = median_seconds(repeats, [&] {
    at::parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) std::memcpy(dst.data() + i * (bytes / 64), src.data() + i * (bytes / 64), bytes / 64);
    });
  });
  return 2.0 * bytes / t / 1e9;  // read + write
}

void bench_weight_only(int64_t batch, int repeats, double membw) {
  std::printf("\n## W4A16 (4-bit weights, group 128 asymmetric; fp32 activations)\n");
  std::printf("goal: GEMV (batch 1) >= 3x torch fp32; GEMM reported against fp32 and bf16\n\n");
  std::printf("| layer | batch | impl | ms | vs fp32 | vs bf16 | GB/s weights | rel err vs fp32 |\n|---|---:|---|---:|---:|---:|---:|---:|\n");
  for (const Layer& L : kLayers) {
    at::Tensor wd;
    const LowBitWeightStore w = make_weights(4, false, L.n, L.k, 128, &wd);
    const at::Tensor wt = wd.t(), wt16 = wd.to(at::kBFloat16).t();
    const double wbytes = static_cast<double>(w.data.size() + 8 * w.scale.size());
    for (int64_t m : {int64_t{1}, batch}) {
      const int reps = m == 1 ? 4 * repeats : std::max(2, repeats / 2);
      const at::Tensor x = at::randn({m, L.k}), x16 = x.to(at::kBFloat16);
      at::Tensor ref;
      const double t32 = median_seconds(reps, [&] { ref = at::matmul(x, wt); });
      const double t16 = median_seconds(reps, [&] { at::matmul(x16, wt16); });
      std::printf("| %s | %lld | torch fp32 | %.3f | 1.00 | %.2f | %.1f | - |\n", L.name, static_cast<long long>(m), 1e3 * t32,
                  t16 / t32, 4.0 * L.n * L.k / t32 / 1e9);
      std::printf("| %s | %lld | torch bf16 | %.3f | %.2f | 1.00 | %.1f | - |\n", L.name, static_cast<long long>(m), 1e3 * t16,
                  t32 / t16, 2.0 * L.n * L.k / t16 / 1e9);
      for (const LowBitOps* ops : host_variants(m == 1)) {
        at::Tensor y = at::empty({m, L.n});
        const double t = median_seconds(m == 1 && std::strcmp(ops->name, "reference") == 0 ? 1 : reps, [&] {
          ops->weight_only_gemm(x.data_ptr<float>(), m, w.view(), nullptr, y.data_ptr<float>());
        });
        char gbs[32] = "-";
        if (m == 1) std::snprintf(gbs, sizeof gbs, "%.1f (%.0f%% of memcpy)", wbytes / t / 1e9, 100.0 * wbytes / t / 1e9 / membw);
        std::printf("| %s | %lld | %s | %.3f | **%.2f** | %.2f | %s | %.1e |\n", L.name, static_cast<long long>(m), ops->name,
                    1e3 * t, t32 / t, t16 / t, gbs, rel_err(y, ref));
      }
    }
  }
}

void bench_int_gemm(int64_t batch, int repeats) {
  std::printf("\n## Integer GEMM at batch %lld: weights per channel symmetric, activations per token asymmetric\n",
              static_cast<long long>(batch));
  std::printf("goal: W8A8 and W4A4 >= 1.5x torch fp32 (\"+quant\" includes quantize_acts of the fp32 input)\n\n");
  std::printf("| layer | config | impl | int_gemm ms | vs fp32 | +quant ms | vs fp32 | rel err vs fp32 on dequantized |\n|---|---|---|---:|---:|---:|---:|---:|\n");
  const int reps = std::max(2, repeats / 2);
  for (const Layer& L : kLayers) {
    const at::Tensor x = at::randn({batch, L.k});
    for (int bits : {8, 4}) {
      at::Tensor wd;
      const LowBitWeightStore w = make_weights(bits, true, L.n, L.k, L.k, &wd);
      const at::Tensor wt = wd.t();
      FakeQuantParams p;
      p.bits = bits;
      const LowBitOps& best = lowbit_cpu_best();
      std::vector<uint8_t> codes(static_cast<size_t>(batch * L.k));
      std::vector<float> sa(static_cast<size_t>(batch)), za(sa.size());
      best.quantize_acts(x.data_ptr<float>(), batch, L.k, p, nullptr, {codes.data(), sa.data(), za.data()});
      at::Tensor xd = at::empty({batch, L.k});
      for (int64_t i = 0; i < batch * L.k; ++i) xd.data_ptr<float>()[i] = (codes[i] - za[i / L.k]) * sa[i / L.k];
      at::Tensor ref;
      const double t32 = median_seconds(reps, [&] { ref = at::matmul(xd, wt); });
      std::printf("| %s | W%dA%d | torch fp32 | %.1f | 1.00 | - | - | - |\n", L.name, bits, bits, 1e3 * t32);
      for (const LowBitOps* ops : host_variants(false)) {
        at::Tensor y = at::empty({batch, L.n});
        const ConstQuantizedActs a{codes.data(), sa.data(), za.data(), L.k};
        const double t = median_seconds(reps, [&] { ops->int_gemm(a, batch, w.view(), nullptr, y.data_ptr<float>()); });
        const double tq = median_seconds(reps, [&] {
          ops->quantize_acts(x.data_ptr<float>(), batch, L.k, p, nullptr, {codes.data(), sa.data(), za.data()});
        });
        std::printf("| %s | W%dA%d | %s | %.1f | **%.2f** | %.1f | **%.2f** | %.1e |\n", L.name, bits, bits, ops->name, 1e3 * t,
                    t32 / t, 1e3 * (t + tq), t32 / (t + tq), rel_err(y, ref));
      }
    }
  }
}

void bench_hadamard(int64_t rows, int repeats) {
  std::printf("\n## Hadamard x·H/sqrt(n) on [%lld, n] vs the dense matmul with the prebuilt matrix\n", static_cast<long long>(rows));
  std::printf("goal: FWHT >= 5x dense for n >= 4096 (bf16 rows: vs dense bf16 matmul)\n\n");
  std::printf("| n | base | impl | fp32 ms | vs dense fp32 | bf16 ms | vs dense bf16 | rel err |\n|---:|---:|---|---:|---:|---:|---:|---:|\n");
  for (auto [base, pow2] : {std::pair<int64_t, int64_t>{1, 4096}, {1, 8192}, {172, 64}}) {
    const int64_t n = base * pow2;
    const std::vector<int8_t> a = base > 1 ? ostq::detail::hadamard_base_build(base) : std::vector<int8_t>{1};
    HadamardSpec h;
    h.base = base;
    h.pow2 = pow2;
    h.base_matrix = base > 1 ? a.data() : nullptr;
    h.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
    const at::Tensor x = at::randn({rows, n});
    const at::Tensor hm = (ostq::hadamard_matrix(n) / std::sqrt(static_cast<double>(n))).to(at::kFloat);
    const at::Tensor hm16 = hm.to(at::kBFloat16), x16 = x.to(at::kBFloat16);
    at::Tensor dense;
    const int reps = std::max(2, repeats / 2);
    const double td = median_seconds(reps, [&] { dense = at::matmul(x, hm); });
    const double td16 = median_seconds(reps, [&] { at::matmul(x16, hm16); });
    std::printf("| %lld | %lld | torch dense | %.1f | 1.00 | %.1f | 1.00 | - |\n", static_cast<long long>(n),
                static_cast<long long>(base), 1e3 * td, 1e3 * td16);
    for (const LowBitOps* ops : host_variants(false)) {
      at::Tensor y = x.clone();
      at::Tensor y16 = x16.clone();
      const double t = median_seconds(repeats, [&] {
        y.copy_(x);
        ops->hadamard_rows(y.data_ptr<float>(), rows, h);
      });
      const double t16 = median_seconds(repeats, [&] {
        y16.copy_(x16);
        ops->hadamard_rows_bf16(reinterpret_cast<uint16_t*>(y16.data_ptr<at::BFloat16>()), rows, h);
      });
      y.copy_(x);
      ops->hadamard_rows(y.data_ptr<float>(), rows, h);
      std::printf("| %lld | %lld | %s (incl. copy) | %.1f | **%.1f** | %.1f | **%.1f** | %.1e |\n", static_cast<long long>(n),
                  static_cast<long long>(base), ops->name, 1e3 * t, td / t, 1e3 * t16, td16 / t16, rel_err(y, dense));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool skylakex = false;
  std::vector<char*> pos;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--skylakex") == 0)
      skylakex = true;
    else
      pos.push_back(argv[i]);
  }
  // OpenBLAS reads OPENBLAS_CORETYPE when it loads, before main: re-execute with it set.
  if (skylakex && !std::getenv("OPENBLAS_CORETYPE")) {
    if (!cpu_features().avx512f) {
      std::printf("--skylakex ignored: this CPU has no avx512f (OpenBLAS would die with SIGILL)\n");
    } else {
      setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
      execv("/proc/self/exe", argv);
      std::perror("execv");
    }
  }
  const int64_t batch = pos.size() > 0 ? std::max(1, std::atoi(pos[0])) : 2048;
  const int repeats = pos.size() > 1 ? std::max(1, std::atoi(pos[1])) : 5;
  ostq::runtime_init();
  std::printf("bench_kernels: %s\n", ostq::runtime_description().c_str());
  std::printf("torch fp32 matmul: OpenBLAS core %s (OPENBLAS_CORETYPE=%s); bf16 matmul: oneDNN\n", openblas_core(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset");
  std::string names;
  for (const LowBitOps* ops : lowbit_variants()) names += std::string(" ") + ops->name;
  std::printf("low-bit variants:%s (best CPU: %s); batch %lld, medians of %d (GEMM: %d)\n", names.c_str(),
              lowbit_cpu_best().name, static_cast<long long>(batch), repeats, std::max(2, repeats / 2));
  const double membw = bandwidth_gbs(repeats);
  std::printf("memcpy 512 MiB, %d threads: %.1f GB/s (read + write)\n", at::get_num_threads(), membw);
  bench_weight_only(batch, repeats, membw);
  bench_int_gemm(batch, repeats);
  bench_hadamard(batch, repeats);
  return 0;
}
