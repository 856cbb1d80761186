// SPDX-License-Identifier: Apache-2.0
// Timings of the "cuda" low-bit kernels (kernels/cuda/): W4A16 GEMV (m = 1) and GEMM (m = 2048),
// W8A8 / W4A4 integer GEMM (m = 2048) on 4096×4096, 4096×11008 and 11008×4096 weights (n × k),
// and the Hadamard rotation of 2048 rows. CUDA events around each op, median of 11 after a
// warm-up; each op synchronises at its end, so a time is one op's device time plus launch.
// Effective GB/s counts the weight, activation and output bytes once; TOPS counts 2·m·n·k.
// With a CUDA LibTorch, torch::matmul (fp32, same shapes) is printed beside the GEMMs; Debian's
// LibTorch is CPU only, and then the kernel times stand alone. Without a device: a message, exit 0.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/lowbit.h"

#ifdef OSTQ_HAVE_CUDA
#include "kernels/cuda/device_buffer.h"

using namespace ostq::kernels;
using ostq::kernels::cuda::DeviceBuffer;

namespace {

constexpr int kRepeats = 11;

template <typename Fn>
double median_ms(Fn&& fn) {
  cuda::EventTimer timer;
  fn();
  std::vector<double> t;
  for (int i = 0; i < kRepeats; ++i) {
    timer.start();
    fn();
    t.push_back(timer.stop());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<float> random_vec(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(count);
  for (float& x : v) x = nd(rng);
  return v;
}

struct DevWeights {
  LowBitWeightStore store;
  DeviceBuffer<uint8_t> data;
  DeviceBuffer<float> scale, zero;
  DeviceBuffer<int32_t> code_sum;
  LowBitWeights view() const {
    return {store.bits,  store.n,      store.k,     store.group,
            data.data(), scale.data(), zero.data(), code_sum.data()};
  }
};

// Symmetric weights (zero 2^{b−1}), per-channel groups, random codes.
DevWeights make_weights(int bits, int64_t n, int64_t k) {
  std::mt19937 rng(static_cast<uint32_t>(n + k + bits));
  std::vector<int32_t> codes(static_cast<size_t>(n * k));
  for (int32_t& c : codes) c = static_cast<int32_t>(rng() % (1u << bits));
  const std::vector<float> scale(n, 0.01f), zero(n, static_cast<float>(1 << (bits - 1)));
  DevWeights w;
  w.store = pack_lowbit_weights(codes.data(), scale.data(), zero.data(), bits, n, k, k);
  w.data = DeviceBuffer<uint8_t>(w.store.data);
  w.scale = DeviceBuffer<float>(w.store.scale);
  w.zero = DeviceBuffer<float>(w.store.zero);
  w.code_sum = DeviceBuffer<int32_t>(w.store.code_sum);
  return w;
}

void report(const char* what, int64_t m, int64_t n, int64_t k, double ms, double bytes,
            double torch_ms) {
  const double tops = 2.0 * m * n * k / (ms * 1e-3) / 1e12;
  std::printf("%-22s m %5lld n %5lld k %5lld  %9.3f ms  %8.1f GB/s  %7.2f TOPS", what,
              static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k), ms,
              bytes / (ms * 1e-3) / 1e9, tops);
  if (torch_ms > 0) std::printf("   torch fp32 matmul %9.3f ms", torch_ms);
  std::printf("\n");
}

// torch::matmul of fp32 [m, k]·[k, n] on the GPU, or −1 when this LibTorch has no CUDA.
double torch_matmul_ms(int64_t m, int64_t n, int64_t k) {
  if (!torch::cuda::is_available()) return -1.0;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
  const torch::Tensor a = torch::randn({m, k}, opts), b = torch::randn({k, n}, opts);
  return median_ms([&] {
    torch::Tensor c = torch::matmul(a, b);
    torch::cuda::synchronize();
  });
}

int run(const LowBitOps& ops) {
  const bool torch_cuda = torch::cuda::is_available();
  std::printf("torch CUDA: %s\n", torch_cuda
                                      ? "yes (torch::matmul fp32 printed as a baseline)"
                                      : "no (CPU-only LibTorch): kernel times only, no baseline");
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {4096, 4096}, {4096, 11008}, {11008, 4096}};
  constexpr int64_t kBigM = 2048;
  for (auto [n, k] : shapes) {
    const DevWeights w4 = make_weights(4, n, k), w8 = make_weights(8, n, k);
    const DeviceBuffer<float> x(random_vec(static_cast<size_t>(kBigM * k), 1));
    DeviceBuffer<float> y(static_cast<size_t>(kBigM * n));
    const double w4_bytes = n * k / 2.0 + 8.0 * n, w8_bytes = static_cast<double>(n) * k + 8.0 * n;
    for (int64_t m : {int64_t{1}, kBigM}) {
      const double ms =
          median_ms([&] { ops.weight_only_gemm(x.data(), m, w4.view(), nullptr, y.data()); });
      report(m == 1 ? "W4A16 GEMV" : "W4A16 GEMM", m, n, k, ms, w4_bytes + 4.0 * m * (k + n),
             m == 1 ? -1.0 : torch_matmul_ms(m, n, k));
    }
    // Activations quantized per token on the device, then the integer GEMMs.
    for (int bits : {8, 4}) {
      FakeQuantParams p;
      p.bits = bits;
      DeviceBuffer<uint8_t> codes(static_cast<size_t>(kBigM * k));
      DeviceBuffer<float> sa(kBigM), za(kBigM);
      ops.quantize_acts(x.data(), kBigM, k, p, nullptr, {codes.data(), sa.data(), za.data()});
      const ConstQuantizedActs a{codes.data(), sa.data(), za.data(), k};
      const DevWeights& w = bits == 8 ? w8 : w4;
      const double ms = median_ms([&] { ops.int_gemm(a, kBigM, w.view(), nullptr, y.data()); });
      report(bits == 8 ? "W8A8 int GEMM" : "W4A4 int GEMM", kBigM, n, k, ms,
             (bits == 8 ? w8_bytes : w4_bytes) + kBigM * (k + 8.0 + 4.0 * n), -1.0);
    }
  }
  // Hadamard rotations of 2048 rows (fp32 in place): FFN widths of 7B/14B models.
  for (auto [base, pow2] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {172, 64}, {28, 1024}}) {
    std::vector<int8_t> a(static_cast<size_t>(base * base));
    std::mt19937 rng(static_cast<uint32_t>(base));
    for (int8_t& v : a) v = (rng() & 1) ? 1 : -1;
    const DeviceBuffer<int8_t> da(a);
    HadamardSpec h;
    h.base = base;
    h.pow2 = pow2;
    h.base_matrix = base > 1 ? da.data() : nullptr;
    const int64_t n = h.n(), rows = kBigM;
    DeviceBuffer<float> data(random_vec(static_cast<size_t>(rows * n), 2));
    const double ms = median_ms([&] { ops.hadamard_rows(data.data(), rows, h); });
    std::printf("Hadamard fp32          rows %5lld n %5lld (base %3lld)  %9.3f ms  %8.1f GB/s\n",
                static_cast<long long>(rows), static_cast<long long>(n),
                static_cast<long long>(base), ms, 8.0 * rows * n / (ms * 1e-3) / 1e9);
  }
  return 0;
}

}  // namespace
#endif  // OSTQ_HAVE_CUDA

int main() {
#ifdef OSTQ_HAVE_CUDA
  std::string why;
  const ostq::kernels::LowBitOps* ops = ostq::kernels::lowbit_cuda(&why);
  if (ops == nullptr) {
    std::printf("bench_kernels_cuda: skipped, %s\n", why.c_str());
    return 0;
  }
  try {
    return run(*ops);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_cuda: %s\n", e.what());
    return 1;
  }
#else
  std::printf("bench_kernels_cuda: skipped, built without CUDA kernels\n");
  return 0;
#endif
}
