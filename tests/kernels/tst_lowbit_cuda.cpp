// SPDX-License-Identifier: Apache-2.0
// The "cuda" LowBitOps variant (kernels/cuda/) against the scalar reference: inputs made on the
// host, uploaded, run on the device, downloaded and compared with lowbit_reference() on the same
// host inputs. Skips (QSKIP in initTestCase) when the build has no CUDA kernels or the machine no
// usable device; the reason is printed.
//
// Named tolerances (eps = 2^-24), the bounds of tests/kernels/tst_lowbit_kernels.cpp:
//   exact                quantize_acts codes/scale/zero, pack/unpack: bit-identical; fused
//                        quantization bit-identical to the device's own hadamard_rows + quantize.
//   hadamard_tolerance   fp32 Hadamard, normwise per row: (log2 pow2 + base + 2)·eps.
//   kBf16Ulp             bf16 Hadamard: per element 2^-8·|y| + the fp32 budget.
//   kFusedStep           fused quantization vs the reference's (double) rotation: dequantized
//   values
//                        within one quantization step (+ 1e-5 relative) — the rotations differ in
//                        the last bits, which can move a value across a rounding boundary.
//   gemm_tolerance       weight_only_gemm: (k/8 + groups + 64)·eps·Σ|x·ŵ| per output.
//   int_tolerance        int_gemm: (blocks + 8)·eps·Σ|â·ŵ| (the integer sums are exact).
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/lowbit.h"
#include "kernels/lowbit_test_data.h"

#ifdef OSTQ_HAVE_CUDA
#include "kernels/cuda/device_buffer.h"
#endif

using namespace ostq::kernels;
using namespace lowbit_test;

#ifdef OSTQ_HAVE_CUDA
using ostq::kernels::cuda::DeviceBuffer;

namespace {

constexpr double kFusedStep = 1.0 + 1e-5;

// The same spec twice: base matrix on the host (reference) and on the device (cuda).
struct Spec {
  std::vector<int8_t> host_a;
  DeviceBuffer<int8_t> dev_a;
  HadamardSpec host, dev;
  Spec(int64_t base, int64_t pow2) : host_a(base_matrix(base)), dev_a(host_a) {
    host = spec_of(base, pow2, host_a.data());
    dev = spec_of(base, pow2, dev_a.data());
  }
};

// Activation codes on the device.
struct DevActs {
  DeviceBuffer<uint8_t> codes;
  DeviceBuffer<float> scale, zero;
  int64_t group = 0;
  explicit DevActs(const Acts& a) : codes(a.codes), scale(a.scale), zero(a.zero), group(a.group) {}
  DevActs(int64_t m, int64_t k, int64_t g)
      : codes(m * k), scale(m * (k / g)), zero(m * (k / g)), group(g) {
    codes.fill_bytes(0xAB);
    scale.fill_bytes(0xFF);
    zero.fill_bytes(0xFF);
  }
  QuantizedActs out() { return {codes.data(), scale.data(), zero.data()}; }
  ConstQuantizedActs view() const { return {codes.data(), scale.data(), zero.data(), group}; }
  Acts download() const { return {codes.download(), scale.download(), zero.download(), group}; }
};

Acts quantize_cuda(const LowBitOps& ops, const DeviceBuffer<float>& x, int64_t m, int64_t k,
                   const FakeQuantParams& p, const HadamardSpec* fused = nullptr) {
  DevActs d(m, k, p.group > 0 ? p.group : k);
  ops.quantize_acts(x.data(), m, k, p, fused, d.out());
  return d.download();
}

// Host weights (canonical layout, dequantized values) and their device copy.
struct Weights : HostWeights {
  DeviceBuffer<uint8_t> data;
  DeviceBuffer<float> scale, zero;
  DeviceBuffer<int32_t> code_sum;
  LowBitWeights dev() const {
    return {store.bits,  store.n,      store.k,     store.group,
            data.data(), scale.data(), zero.data(), code_sum.data()};
  }
};

Weights random_weights(int bits, bool sym, int64_t n, int64_t k, int64_t group, uint32_t seed,
                       float zero_override = -1.0f) {
  Weights w;
  static_cast<HostWeights&>(w) = random_host_weights(bits, sym, n, k, group, seed, zero_override);
  w.data = DeviceBuffer<uint8_t>(w.store.data);
  w.scale = DeviceBuffer<float>(w.store.scale);
  w.zero = DeviceBuffer<float>(w.store.zero);
  w.code_sum = DeviceBuffer<int32_t>(w.store.code_sum);
  return w;
}

// The text of the std::invalid_argument that fn throws, or "" when it does not throw one.
template <typename Fn>
std::string invalid_argument_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace
#endif  // OSTQ_HAVE_CUDA

class TestLowBitCuda : public QObject {
  Q_OBJECT
  const LowBitOps* cuda_ = nullptr;

 private Q_SLOTS:
  void initTestCase() {
    std::string why;
    cuda_ = lowbit_cuda(&why);
    if (cuda_ == nullptr)
      QSKIP(qPrintable(QString("CUDA low-bit kernels not tested: %1").arg(why.c_str())));
    QCOMPARE(QString(cuda_->name), QString("cuda"));
    QVERIFY(cuda_->memory == MemorySpace::kCuda);
  }

#ifdef OSTQ_HAVE_CUDA
  // fp32 and bf16 rows for every base order, up to the 28672 of a 14B model's FFN.
  void hadamardRows() {
    const std::vector<std::pair<int64_t, int64_t>> orders = {
        {1, 2},    {1, 64},    {1, 4096},  {1, 16384}, {12, 1},  {12, 64},   {20, 256},
        {28, 128}, {28, 1024}, {36, 64},   {40, 128},  {52, 64}, {108, 128}, {140, 128},
        {156, 64}, {172, 64},  {172, 128}, {172, 1},   {40, 2}};
    for (auto [base, pow2] : orders) {
      const Spec h(base, pow2);
      const int64_t n = h.host.n(), rows = n > 4096 ? 3 : 7;
      const std::vector<float> x = random_rows(rows, n, 11);
      std::vector<float> ref = x;
      lowbit_reference().hadamard_rows(ref.data(), rows, h.host);
      DeviceBuffer<float> dx(x);
      cuda_->hadamard_rows(dx.data(), rows, h.dev);
      const std::vector<float> got = dx.download();
      const double tol = hadamard_tolerance(h.host);
      for (int64_t r = 0; r < rows; ++r) {
        double num = 0, den = 0;
        for (int64_t j = 0; j < n; ++j) {
          num += std::pow(got[r * n + j] - static_cast<double>(ref[r * n + j]), 2);
          den += std::pow(static_cast<double>(ref[r * n + j]), 2);
        }
        QVERIFY2(std::sqrt(num) <= tol * std::sqrt(den) + 1e-30,
                 qPrintable(QString("fp32 base %1 pow2 %2 row %3: rel err %4 > %5")
                                .arg(base)
                                .arg(pow2)
                                .arg(r)
                                .arg(std::sqrt(num / std::max(den, 1e-300)))
                                .arg(tol)));
      }
      // bf16: the same rows rounded to bf16 in, one bf16 rounding out.
      std::vector<uint16_t> xb(x.size());
      for (size_t i = 0; i < x.size(); ++i) xb[i] = float_to_bf16(x[i]);
      std::vector<float> exact(x.size());
      for (size_t i = 0; i < x.size(); ++i) exact[i] = bf16_to_float(xb[i]);
      lowbit_reference().hadamard_rows(exact.data(), rows, h.host);
      DeviceBuffer<uint16_t> dxb(xb);
      cuda_->hadamard_rows_bf16(dxb.data(), rows, h.dev);
      const std::vector<uint16_t> gb = dxb.download();
      for (int64_t r = 0; r < rows; ++r) {
        double norm = 0;
        for (int64_t j = 0; j < n; ++j) norm += std::pow(exact[r * n + j], 2);
        for (int64_t j = 0; j < n; ++j) {
          const double e = exact[r * n + j], g = bf16_to_float(gb[r * n + j]);
          QVERIFY2(std::fabs(g - e) <= kBf16Ulp * std::fabs(e) + tol * std::sqrt(norm) + 1e-30,
                   qPrintable(QString("bf16 base %1 pow2 %2 [%3,%4]: %5 vs %6")
                                  .arg(base)
                                  .arg(pow2)
                                  .arg(r)
                                  .arg(j)
                                  .arg(g)
                                  .arg(e)));
        }
      }
    }
  }

  // Codes, scales and zeros bit-identical to the reference; the device input untouched.
  void quantizeActsBitExact() {
    struct Case {
      int64_t m, k, group;
    };
    const std::vector<Case> cases = {{1, 64, 0},    {3, 100, 0},     {17, 80, 16},  {3, 4096, 0},
                                     {17, 768, 64}, {3, 4096, 128},  {1, 11008, 0}, {5, 96, 32},
                                     {2, 24, 8},    {17, 4096, 128}, {2, 28672, 0}, {70, 256, 256},
                                     {9, 1000, 8},  {4, 4096, 2048}, {3, 6, 3},     {1, 1, 0}};
    int64_t checked = 0;
    for (const Case& c : cases)
      for (int bits : {2, 3, 4, 8})
        for (int mode = 0; mode < 4; ++mode) {  // asym, sym, sym absmax, asym clip 0.9
          FakeQuantParams p;
          p.bits = bits;
          p.symmetric = mode == 1 || mode == 2;
          p.absmax_scale = mode == 2;
          p.clip_ratio = mode == 3 ? 0.9f : 1.0f;
          p.group = c.group;
          const std::vector<float> x = random_rows(c.m, c.k, static_cast<uint32_t>(c.k + bits));
          const Acts ref = quantize(lowbit_reference(), x.data(), c.m, c.k, p);
          DeviceBuffer<float> dx(x);
          const Acts got = quantize_cuda(*cuda_, dx, c.m, c.k, p);
          const QString what = QString("m %1 k %2 group %3 bits %4 mode %5")
                                   .arg(c.m)
                                   .arg(c.k)
                                   .arg(c.group)
                                   .arg(bits)
                                   .arg(mode);
          QVERIFY2(dx.download() == x, qPrintable(what + ": input modified"));
          QVERIFY2(got.codes == ref.codes, qPrintable(what + ": codes differ"));
          QVERIFY2(std::memcmp(got.scale.data(), ref.scale.data(), 4 * ref.scale.size()) == 0 &&
                       std::memcmp(got.zero.data(), ref.zero.data(), 4 * ref.zero.size()) == 0,
                   qPrintable(what + ": scale/zero differ"));
          ++checked;
        }
    qInfo("%lld quantize_acts cases bit-identical", static_cast<long long>(checked));
  }

  // Fused rotation: bit-identical to the device's hadamard_rows then quantize_acts, and within one
  // quantization step of the reference (which rotates in double).
  void quantizeActsFused() {
    for (auto [base, pow2, group] : {std::tuple<int64_t, int64_t, int64_t>{1, 4096, 0},
                                     {172, 64, 0},
                                     {1, 128, 64},
                                     {12, 64, 128},
                                     {40, 128, 128},
                                     {28, 1024, 0},
                                     {1, 16384, 128},
                                     {20, 1, 4}})
      for (bool sym : {false, true}) {
        const Spec h(base, pow2);
        const int64_t m = 5, k = h.host.n();
        FakeQuantParams p;
        p.bits = 4;
        p.symmetric = sym;
        p.group = group;
        const std::vector<float> x = random_rows(m, k, 3);
        DeviceBuffer<float> dx(x), dxh(x);
        cuda_->hadamard_rows(dxh.data(), m, h.dev);
        const Acts fused = quantize_cuda(*cuda_, dx, m, k, p, &h.dev);
        const Acts plain = quantize_cuda(*cuda_, dxh, m, k, p);
        const QString what = QString("fused base %1 pow2 %2 group %3 sym %4")
                                 .arg(base)
                                 .arg(pow2)
                                 .arg(group)
                                 .arg(sym);
        QVERIFY2(dx.download() == x, qPrintable(what + ": input modified"));
        QVERIFY2(
            fused.codes == plain.codes && fused.scale == plain.scale && fused.zero == plain.zero,
            qPrintable(what + ": differs from hadamard_rows + quantize_acts"));
        const Acts ref = quantize(lowbit_reference(), x.data(), m, k, p, &h.host);
        const std::vector<float> dg = dequantize(fused, m, k), dr = dequantize(ref, m, k);
        const int64_t groups = k / fused.group;
        for (int64_t i = 0; i < m * k; ++i) {
          const float s = ref.scale[(i / k) * groups + (i % k) / fused.group];
          QVERIFY2(
              std::fabs(dg[i] - dr[i]) <= kFusedStep * s + 1e-5 * std::fabs(dr[i]),
              qPrintable(what +
                         QString(" [%1]: %2 vs %3 (step %4)").arg(i).arg(dg[i]).arg(dr[i]).arg(s)));
        }
      }
  }

  void packUnpackInt4() {
    for (int64_t count : std::vector<int64_t>{2, 30, 64, 66, 1000, 4098, int64_t{1} << 21}) {
      std::mt19937 rng(static_cast<uint32_t>(count));
      std::vector<uint8_t> codes(count), ref_packed(count / 2);
      for (uint8_t& c : codes) c = rng() & 0xf;
      lowbit_reference().pack_int4(codes.data(), count, ref_packed.data());
      DeviceBuffer<uint8_t> dcodes(codes), dpacked(count / 2), dback(count);
      dback.fill_bytes(0xff);
      cuda_->pack_int4(dcodes.data(), count, dpacked.data());
      QVERIFY2(dpacked.download() == ref_packed, qPrintable(QString("pack %1").arg(count)));
      cuda_->unpack_int4(dpacked.data(), count, dback.data());
      QVERIFY2(dback.download() == codes, qPrintable(QString("unpack %1").arg(count)));
    }
  }

  // GEMV (m ≤ 8, vectorized and scalar loads) and the tiled GEMM (m > 8), 4/8 bits, sym/asym, bias.
  void weightOnlyGemm() {
    struct Case {
      int64_t m, n, k, group;
    };
    const std::vector<Case> cases = {
        {1, 64, 4096, 128}, {3, 67, 256, 32},    {17, 33, 256, 64},     {1, 5, 80, 80},
        {3, 9, 100, 100},   {40, 70, 512, 128},  {17, 130, 192, 192},   {1, 200, 4096, 4096},
        {2, 16, 96, 32},    {6, 64, 1024, 64},   {3, 7, 40, 20},        {1, 3, 2, 2},
        {8, 129, 512, 16},  {9, 65, 100, 50},    {130, 200, 1024, 128}, {5, 11, 1024, 1024},
        {64, 64, 64, 32},   {1, 1000, 2048, 128}};
    for (const Case& c : cases)
      for (int bits : {4, 8})
        for (bool sym : {true, false}) {
          const Weights w =
              random_weights(bits, sym, c.n, c.k, c.group, static_cast<uint32_t>(c.n * c.k + bits));
          const std::vector<float> x = random_rows(c.m, c.k, 7);
          std::vector<float> bias(c.n);
          for (int64_t j = 0; j < c.n; ++j) bias[j] = 0.25f * static_cast<float>(j % 5) - 0.5f;
          const DeviceBuffer<float> dx(x), dbias(bias);
          std::vector<double> scale = abs_products(x.data(), c.m, w.dequant, c.n, c.k);
          for (bool with_bias : {false, true}) {
            std::vector<float> ref(c.m * c.n);
            lowbit_reference().weight_only_gemm(x.data(), c.m, w.store.view(),
                                                with_bias ? bias.data() : nullptr, ref.data());
            DeviceBuffer<float> dy(c.m * c.n);
            dy.fill_bytes(0xFF);  // NaN: every output must be written
            cuda_->weight_only_gemm(dx.data(), c.m, w.dev(), with_bias ? dbias.data() : nullptr,
                                    dy.data());
            std::vector<double> sc = scale;
            for (double& s : sc) s += with_bias ? 1.0 : 0.0;
            const double tol = (c.k / 8.0 + c.k / c.group + 64) * kEps;
            const double worst = worst_ratio(dy.download(), ref, sc, tol);
            QVERIFY2(
                worst <= 1.0,
                qPrintable(QString("W%1 %2 m %3 n %4 k %5 group %6 bias %7: error %8 × tolerance")
                               .arg(bits)
                               .arg(sym ? "sym" : "asym")
                               .arg(c.m)
                               .arg(c.n)
                               .arg(c.k)
                               .arg(c.group)
                               .arg(with_bias)
                               .arg(worst)));
          }
        }
  }

  // Tensor-core path (fine group % 32 == 0) and the scalar path, against the reference and ≈ the
  // device's weight-only GEMM on the dequantized activations.
  void intGemm() {
    struct Case {
      int64_t m, n, k, w_group, a_group;  // a_group 0 = per token
    };
    const std::vector<Case> cases = {
        {1, 64, 4096, 4096, 0},  {3, 67, 256, 32, 0},        {17, 33, 256, 64, 128},
        {40, 70, 512, 128, 64},  {17, 130, 384, 384, 128},   {1, 5, 80, 80, 16},
        {6, 64, 1024, 128, 128}, {3, 9, 100, 100, 0},        {2, 16, 96, 32, 0},
        {1, 3, 2, 2, 0},         {130, 200, 1024, 128, 128}, {65, 63, 2048, 2048, 0},
        {64, 64, 256, 256, 32},  {9, 100, 96, 48, 96},       {200, 72, 4096, 128, 0}};
    for (const Case& c : cases)
      for (auto [wbits, abits] : {std::pair<int, int>{4, 4}, {8, 8}, {4, 8}})
        for (bool wsym : {true, false}) {
          if (wbits == 8 && !wsym) continue;  // (u − zw) must fit int8
          for (bool asym_acts : {true, false}) {
            const Weights w =
                random_weights(wbits, wsym, c.n, c.k, c.w_group, static_cast<uint32_t>(c.n + c.k));
            const std::vector<float> x = random_rows(c.m, c.k, 9);
            FakeQuantParams p;
            p.bits = abits;
            p.symmetric = !asym_acts;
            p.group = c.a_group;
            const Acts a = quantize(lowbit_reference(), x.data(), c.m, c.k, p);
            const DevActs da(a);
            const std::vector<float> xd = dequantize(a, c.m, c.k);
            const std::vector<float> bias(c.n, 0.125f);
            const DeviceBuffer<float> dxd(xd), dbias(bias);
            std::vector<float> ref(c.m * c.n);
            lowbit_reference().int_gemm(a.view(), c.m, w.store.view(), bias.data(), ref.data());
            DeviceBuffer<float> dy(c.m * c.n), dwo(c.m * c.n);
            dy.fill_bytes(0xFF);
            cuda_->int_gemm(da.view(), c.m, w.dev(), dbias.data(), dy.data());
            cuda_->weight_only_gemm(dxd.data(), c.m, w.dev(), dbias.data(), dwo.data());
            const std::vector<float> got = dy.download(), wo = dwo.download();
            std::vector<double> scale = abs_products(xd.data(), c.m, w.dequant, c.n, c.k);
            for (double& s : scale) s += 0.125;
            const int64_t blocks = c.k / std::min(a.group, c.w_group);
            const double tol = (blocks + 8) * kEps;
            const QString what = QString("W%1A%2 wsym %3 asym acts %4 m %5 n %6 k %7 groups %8/%9")
                                     .arg(wbits)
                                     .arg(abits)
                                     .arg(wsym)
                                     .arg(asym_acts)
                                     .arg(c.m)
                                     .arg(c.n)
                                     .arg(c.k)
                                     .arg(c.w_group)
                                     .arg(a.group);
            const double worst = worst_ratio(got, ref, scale, tol);
            QVERIFY2(worst <= 1.0,
                     qPrintable(what + QString(": vs reference %1 × tolerance").arg(worst)));
            const double wo_tol = tol + (c.k / 8.0 + c.k / c.w_group + 64) * kEps;
            const double worst_wo = worst_ratio(got, wo, scale, wo_tol);
            QVERIFY2(worst_wo <= 1.0,
                     qPrintable(what + QString(": vs weight-only %1 × tolerance").arg(worst_wo)));
          }
        }
  }

  // Bad shapes and unsupported weights become std::invalid_argument, not device faults.
  void rejectsBadInput() {
    const Spec h(1, 64);
    HadamardSpec bad = h.dev;
    bad.pow2 = 48;
    DeviceBuffer<float> row(64 * 1024);
    QVERIFY(invalid_argument_of([&] {
              cuda_->hadamard_rows(row.data(), 1, bad);
            }).find("power of two") != std::string::npos);
    bad.pow2 = 65536;
    QVERIFY(invalid_argument_of([&] { cuda_->hadamard_rows(row.data(), 1, bad); }).find("limit") !=
            std::string::npos);
    FakeQuantParams p;
    p.group = 48;
    DevActs acts(1, 64, 64);
    QVERIFY(invalid_argument_of([&] {
              cuda_->quantize_acts(row.data(), 1, 64, p, nullptr, acts.out());
            }).find("group") != std::string::npos);
    p.group = 0;
    QVERIFY(invalid_argument_of(
                [&] { cuda_->quantize_acts(row.data(), 1, 64, p, &bad, acts.out()); }) != "");
    QVERIFY(invalid_argument_of(
                [&] { cuda_->pack_int4(acts.codes.data(), 3, acts.codes.data()); }) != "");
    // 8-bit asymmetric weights with zero 0: u − zw up to 255 does not fit int8 (tensor-core path).
    const Weights w8 = random_weights(8, false, 8, 256, 256, 5, 0.0f);
    const Acts a = quantize(lowbit_reference(), random_rows(2, 256, 1).data(), 2, 256, FakeQuantParams{});
    const DevActs da(a);
    DeviceBuffer<float> y(2 * 8);
    QVERIFY(invalid_argument_of([&] {
              cuda_->int_gemm(da.view(), 2, w8.dev(), nullptr, y.data());
            }).find("int8") != std::string::npos);
    // Groups that do not nest.
    const Weights w4 = random_weights(4, true, 8, 256, 64, 6);
    DevActs a96(2, 256, 256);
    a96.group = 96;
    QVERIFY(invalid_argument_of(
                [&] { cuda_->int_gemm(a96.view(), 2, w4.dev(), nullptr, y.data()); }) != "");
    // The device is still usable after the rejected calls.
    cuda_->hadamard_rows(row.data(), 0, h.dev);
    cuda_->hadamard_rows(row.data(), 1, h.dev);
  }
#endif  // OSTQ_HAVE_CUDA
};

QTEST_GUILESS_MAIN(TestLowBitCuda)
#include "tst_lowbit_cuda.moc"
