// SPDX-License-Identifier: Apache-2.0
// Every op of kernels/lowbit.h in every host variant of lowbit_variants() against the scalar
// reference (kernels/ref/lowbit_ref.cpp), and the reference against the spec (fake_quant_rows,
// the dense Hadamard definition). Named tolerances (eps = 2^-24, fp32 unit roundoff):
//   kExact               quantize_acts codes/scale/zero, dequantized values vs fake_quant_rows,
//                        pack/unpack, pack_lowbit_weights: bit-identical.
//   hadamard_tolerance   fp32 Hadamard vs the double reference, normwise per row:
//                        (log2 pow2 + base + 2)·eps (a butterfly stage adds ≤ eps relative per
//                        element, the base mix is a sum of `base` terms).
//   kBf16Ulp             bf16 Hadamard: per element 2^-8·|y| + the fp32 budget above.
//   gemm_tolerance       weight_only_gemm: |y − y_ref| ≤ (k/8 + groups + 64)·eps·Σ|x·ŵ| per output,
//                        the worst-case bound of a sum split in ≥ 8 lanes, reduced in ≤ 64 steps.
//   int_tolerance        int_gemm: the int32 sums are exact, only the fp32 scaling of each block and
//                        the sum over blocks round: (blocks + 8)·eps·Σ|â·ŵ|.
// Shapes: m = 1, 3, 17 (and 40 for the tiled GEMM path), k not a multiple of the SIMD width where
// the op allows it, groups 32/64/128/per channel, activation groups = head_dim (o_proj input).
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/fake_quant.h"
#include "kernels/lowbit.h"
#include "kernels/lowbit_test_data.h"

using namespace ostq::kernels;
using namespace lowbit_test;
using Weights = HostWeights;

namespace {


std::vector<const LowBitOps*> host_variants() {
  std::vector<const LowBitOps*> v;
  for (const LowBitOps* ops : lowbit_variants())
    if (ops->memory == MemorySpace::kHost) v.push_back(ops);
  return v;
}

std::string pack_error(const std::vector<int32_t>& codes, const std::vector<float>& scale,
                       const std::vector<float>& zero, int bits, int64_t n, int64_t k, int64_t group,
                       bool null_codes = false) {
  try {
    pack_lowbit_weights(null_codes ? nullptr : codes.data(), scale.data(), zero.data(), bits, n, k, group);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

class TestLowBitKernels : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QString names;
    for (const LowBitOps* ops : lowbit_variants()) names += QString(" ") + ops->name;
    std::string why;
    const bool cuda = lowbit_cuda(&why) != nullptr;
    qInfo("variants:%s; cpu best: %s; cuda: %s", qPrintable(names), lowbit_cpu_best().name,
          cuda ? "yes (not tested here: device memory)" : why.c_str());
    QCOMPARE(QString(lowbit_variants().front()->name), QString("reference"));
  }

  // The reference FWHT against the dense (A ⊗ H_pow2) product from the definition,
  // H[p][q] = (−1)^popcount(p & q): one fp32 rounding of the exact value.
  void referenceHadamardIsTheDefinition() {
    for (auto [base, pow2] : {std::pair<int64_t, int64_t>{1, 8}, {1, 64}, {12, 4}, {20, 2}, {28, 1}, {172, 2}}) {
      const std::vector<int8_t> a = base_matrix(base);
      const HadamardSpec h = spec_of(base, pow2, a.data());
      const int64_t n = h.n(), rows = 3;
      std::vector<float> x = random_rows(rows, n, 5), y = x;
      lowbit_reference().hadamard_rows(y.data(), rows, h);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t ab = a[(i / pow2) * base + j / pow2];
            const int sign = __builtin_popcountll((i % pow2) & (j % pow2)) & 1 ? -1 : 1;
            s += x[r * n + i] * static_cast<double>(ab * sign);
          }
          s *= static_cast<double>(h.scale);
          QVERIFY2(std::fabs(y[r * n + j] - s) <= std::fabs(s) * 1.0000001 * kEps + 1e-30,
                   qPrintable(QString("base %1 pow2 %2 [%3,%4]: %5 vs %6").arg(base).arg(pow2).arg(r).arg(j)
                                  .arg(y[r * n + j]).arg(s)));
        }
    }
  }

  // fp32 and bf16 rows for the orders of supported models.
  void hadamardRows() {
    const std::vector<std::pair<int64_t, int64_t>> orders = {
        {1, 2},     {1, 64},   {1, 4096},  {1, 8192},  {12, 64},  {20, 256}, {28, 128}, {36, 64},
        {40, 128},  {52, 64},  {108, 128}, {140, 128}, {156, 64}, {172, 64}, {172, 128}, {12, 1}};
    for (const LowBitOps* ops : host_variants())
      for (auto [base, pow2] : orders) {
        const std::vector<int8_t> a = base_matrix(base);
        const HadamardSpec h = spec_of(base, pow2, a.data());
        const int64_t n = h.n(), rows = n > 4096 ? 2 : 5;
        const std::vector<float> x = random_rows(rows, n, 11);
        std::vector<float> ref = x, got = x;
        lowbit_reference().hadamard_rows(ref.data(), rows, h);
        ops->hadamard_rows(got.data(), rows, h);
        const double tol = hadamard_tolerance(h);
        for (int64_t r = 0; r < rows; ++r) {
          double num = 0, den = 0;
          for (int64_t j = 0; j < n; ++j) {
            num += std::pow(got[r * n + j] - static_cast<double>(ref[r * n + j]), 2);
            den += std::pow(static_cast<double>(ref[r * n + j]), 2);
          }
          QVERIFY2(std::sqrt(num) <= tol * std::sqrt(den) + 1e-30,
                   qPrintable(QString("%1 fp32 base %2 pow2 %3 row %4: rel err %5 > %6").arg(ops->name).arg(base)
                                  .arg(pow2).arg(r).arg(std::sqrt(num / std::max(den, 1e-300))).arg(tol)));
        }
        // bf16: the same rows rounded to bf16 in, one bf16 rounding out.
        std::vector<uint16_t> xb(x.size()), rb, gb;
        for (size_t i = 0; i < x.size(); ++i) xb[i] = float_to_bf16(x[i]);
        rb = gb = xb;
        lowbit_reference().hadamard_rows_bf16(rb.data(), rows, h);
        ops->hadamard_rows_bf16(gb.data(), rows, h);
        std::vector<float> exact(x.size());
        for (size_t i = 0; i < x.size(); ++i) exact[i] = bf16_to_float(xb[i]);
        lowbit_reference().hadamard_rows(exact.data(), rows, h);
        for (int64_t r = 0; r < rows; ++r) {
          double norm = 0;
          for (int64_t j = 0; j < n; ++j) norm += std::pow(exact[r * n + j], 2);
          for (int64_t j = 0; j < n; ++j) {
            const double e = exact[r * n + j];
            const double bound = kBf16Ulp * std::fabs(e) + tol * std::sqrt(norm) + 1e-30;
            const double g = bf16_to_float(gb[r * n + j]);
            QVERIFY2(std::fabs(g - e) <= bound && std::fabs(bf16_to_float(rb[r * n + j]) - e) <= bound,
                     qPrintable(QString("%1 bf16 base %2 pow2 %3 [%4,%5]: %6 vs %7").arg(ops->name).arg(base)
                                    .arg(pow2).arg(r).arg(j).arg(g).arg(e)));
          }
        }
      }
  }

  // Codes, scales and zeros bit-identical to the reference; dequantized bit-identical to
  // fake_quant_rows (the spec's kernel). Fused Hadamard = the variant's own hadamard_rows first.
  void quantizeActsBitExact() {
    struct Case {
      int64_t m, k, group;
    };
    const std::vector<Case> cases = {{1, 64, 0},   {3, 100, 0},  {17, 80, 16},  {3, 4096, 0},  {17, 768, 64},
                                     {3, 4096, 128}, {1, 11008, 0}, {5, 96, 32},  {2, 24, 8},   {17, 4096, 128}};
    int64_t checked = 0;
    for (const LowBitOps* ops : host_variants())
      for (const Case& c : cases)
        for (int bits : {2, 4, 8})
          for (int mode = 0; mode < 4; ++mode) {  // asym, sym, sym absmax, asym clip 0.9
            FakeQuantParams p;
            p.bits = bits;
            p.symmetric = mode == 1 || mode == 2;
            p.absmax_scale = mode == 2;
            p.clip_ratio = mode == 3 ? 0.9f : 1.0f;
            p.group = c.group;
            const std::vector<float> x = random_rows(c.m, c.k, static_cast<uint32_t>(c.k + bits));
            const std::vector<float> x_copy = x;
            const Acts ref = quantize(lowbit_reference(), x.data(), c.m, c.k, p);
            const Acts got = quantize(*ops, x.data(), c.m, c.k, p);
            const QString what = QString("%1 m %2 k %3 group %4 bits %5 mode %6").arg(ops->name).arg(c.m).arg(c.k)
                                     .arg(c.group).arg(bits).arg(mode);
            QVERIFY2(x == x_copy, qPrintable(what + ": input modified"));
            QVERIFY2(got.codes == ref.codes, qPrintable(what + ": codes differ"));
            QVERIFY2(std::memcmp(got.scale.data(), ref.scale.data(), 4 * ref.scale.size()) == 0 &&
                         std::memcmp(got.zero.data(), ref.zero.data(), 4 * ref.zero.size()) == 0,
                     qPrintable(what + ": scale/zero differ"));
            std::vector<float> fq(x.size());
            fake_quant_rows(x.data(), fq.data(), c.m, c.k, p);
            const std::vector<float> dq = dequantize(got, c.m, c.k);
            QVERIFY2(std::memcmp(fq.data(), dq.data(), 4 * fq.size()) == 0,
                     qPrintable(what + ": dequantized codes differ from fake_quant_rows"));
            for (uint8_t u : got.codes) QVERIFY2(u < (1 << bits), qPrintable(what + ": code out of range"));
            ++checked;
          }
    // Fused Hadamard (k = base·pow2), per token and per head.
    for (const LowBitOps* ops : host_variants())
      for (auto [base, pow2, group] : {std::tuple<int64_t, int64_t, int64_t>{1, 4096, 0}, {172, 64, 0},
                                       {1, 128, 64}, {12, 64, 128}, {40, 128, 128}}) {
        const std::vector<int8_t> a = base_matrix(base);
        const HadamardSpec h = spec_of(base, pow2, a.data());
        const int64_t m = 3, k = h.n();
        FakeQuantParams p;
        p.group = group;
        const std::vector<float> x = random_rows(m, k, 3);
        std::vector<float> xh = x;
        ops->hadamard_rows(xh.data(), m, h);
        const Acts fused = quantize(*ops, x.data(), m, k, p, &h);
        const Acts plain = quantize(*ops, xh.data(), m, k, p);
        QVERIFY2(fused.codes == plain.codes && fused.scale == plain.scale && fused.zero == plain.zero,
                 qPrintable(QString("%1 fused base %2 pow2 %3").arg(ops->name).arg(base).arg(pow2)));
        ++checked;
      }
    qInfo("%lld quantize_acts cases bit-identical", static_cast<long long>(checked));
  }

  void packUnpackInt4() {
    for (const LowBitOps* ops : host_variants())
      for (int64_t count : {2, 30, 64, 66, 1000, 4098}) {
        std::mt19937 rng(static_cast<uint32_t>(count));
        std::vector<uint8_t> codes(count), packed(count / 2, 0), back(count, 0xff), ref_packed(count / 2);
        for (uint8_t& c : codes) c = rng() & 0xf;
        ops->pack_int4(codes.data(), count, packed.data());
        lowbit_reference().pack_int4(codes.data(), count, ref_packed.data());
        QVERIFY2(packed == ref_packed, qPrintable(QString("%1 pack %2").arg(ops->name).arg(count)));
        for (int64_t j = 0; j < count / 2; ++j) QCOMPARE(packed[j], uint8_t(codes[2 * j] | codes[2 * j + 1] << 4));
        ops->unpack_int4(packed.data(), count, back.data());
        QVERIFY2(back == codes, qPrintable(QString("%1 unpack %2").arg(ops->name).arg(count)));
      }
  }

  void packWeightsLayout() {
    const int64_t n = 3, k = 8, group = 4;
    std::vector<int32_t> codes(n * k);
    for (int64_t i = 0; i < n * k; ++i) codes[i] = static_cast<int32_t>(i % 16);
    const std::vector<float> scale(n * 2, 0.5f), zero = {8, 8, 0, 3, 15, 8};
    const LowBitWeightStore w = pack_lowbit_weights(codes.data(), scale.data(), zero.data(), 4, n, k, group);
    QCOMPARE(static_cast<int64_t>(w.data.size()), n * k / 2);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < k; ++c) {
        const uint8_t b = w.data[j * k / 2 + c / 2];
        QCOMPARE(static_cast<int32_t>(c % 2 ? b >> 4 : b & 0xf), codes[j * k + c]);
      }
    for (int64_t g = 0; g < n * 2; ++g) {
      int32_t s = 0;
      for (int64_t c = 0; c < group; ++c) s += codes[(g / 2) * k + (g % 2) * group + c] - static_cast<int32_t>(zero[g]);
      QCOMPARE(w.code_sum[g], s);
    }
    const LowBitWeightStore w8 = pack_lowbit_weights(codes.data(), scale.data(), zero.data(), 8, n, k, group);
    QCOMPARE(w8.data.size(), size_t(n * k));
    QCOMPARE(w8.data[5], uint8_t(5));
    QCOMPARE(w8.view().groups(), int64_t{2});
  }

  void packWeightsRejectsBadInput() {
    std::vector<int32_t> codes(2 * 8, 1);
    std::vector<float> scale(4, 1.0f), zero(4, 8.0f);
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 4).empty());
    QVERIFY(pack_error(codes, scale, zero, 3, 2, 8, 4).find("bits") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 4, 0, 8, 4).find("empty") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 3).find("group") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 0).find("group") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 7, 7).find("even k") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 4, true).find("null") != std::string::npos);
    codes[5] = 16;
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 4).find("code 16 at [0, 5]") != std::string::npos);
    QVERIFY(pack_error(codes, scale, zero, 8, 2, 8, 4).empty());
    codes[5] = -1;
    QVERIFY(pack_error(codes, scale, zero, 8, 2, 8, 4).find("outside") != std::string::npos);
    codes[5] = 256;
    QVERIFY(pack_error(codes, scale, zero, 8, 2, 8, 4).find("outside") != std::string::npos);
    codes[5] = 1;
    zero[1] = 7.5f;
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 4).find("zero of row 0 group 1") != std::string::npos);
    zero[1] = 8.0f;
    scale[2] = NAN;
    QVERIFY(pack_error(codes, scale, zero, 4, 2, 8, 4).find("scale of row 1 group 0") != std::string::npos);
  }

  void weightOnlyGemm() {
    struct Case {
      int64_t m, n, k, group;
    };
    const std::vector<Case> cases = {{1, 64, 4096, 128}, {3, 67, 256, 32},  {17, 33, 256, 64}, {1, 5, 80, 80},
                                     {3, 9, 100, 100},   {40, 70, 512, 128}, {17, 130, 192, 192}, {1, 200, 4096, 4096},
                                     {2, 16, 96, 32},    {6, 64, 1024, 64},  {3, 7, 40, 20},     {1, 3, 2, 2}};
    for (const LowBitOps* ops : host_variants())
      for (const Case& c : cases)
        for (int bits : {4, 8})
          for (bool sym : {true, false}) {
            const Weights w = random_host_weights(bits, sym, c.n, c.k, c.group, static_cast<uint32_t>(c.n * c.k + bits));
            const std::vector<float> x = random_rows(c.m, c.k, 7);
            std::vector<float> bias(c.n);
            for (int64_t j = 0; j < c.n; ++j) bias[j] = 0.25f * static_cast<float>(j % 5) - 0.5f;
            for (bool with_bias : {false, true}) {
              const float* b = with_bias ? bias.data() : nullptr;
              std::vector<float> ref(c.m * c.n), got(c.m * c.n, NAN);
              lowbit_reference().weight_only_gemm(x.data(), c.m, w.store.view(), b, ref.data());
              ops->weight_only_gemm(x.data(), c.m, w.store.view(), b, got.data());
              std::vector<double> scale = abs_products(x.data(), c.m, w.dequant, c.n, c.k);
              for (size_t i = 0; i < scale.size(); ++i) scale[i] += with_bias ? 1.0 : 0.0;
              const double tol = (c.k / 8.0 + c.k / c.group + 64) * kEps;
              const double worst = worst_ratio(got, ref, scale, tol);
              QVERIFY2(worst <= 1.0, qPrintable(QString("%1 W%2 %3 m %4 n %5 k %6 group %7 bias %8: error %9 × tolerance")
                                                    .arg(ops->name).arg(bits).arg(sym ? "sym" : "asym").arg(c.m)
                                                    .arg(c.n).arg(c.k).arg(c.group).arg(with_bias).arg(worst)));
            }
          }
  }

  // int_gemm against the reference, and ≈ weight_only_gemm on the dequantized activations.
  void intGemm() {
    struct Case {
      int64_t m, n, k, w_group, a_group;  // a_group 0 = per token
    };
    const std::vector<Case> cases = {{1, 64, 4096, 4096, 0},  {3, 67, 256, 32, 0},   {17, 33, 256, 64, 128},
                                     {40, 70, 512, 128, 64},  {17, 130, 384, 384, 128}, {1, 5, 80, 80, 16},
                                     {6, 64, 1024, 128, 128}, {3, 9, 100, 100, 0},      {2, 16, 96, 32, 0},
                                     {1, 3, 2, 2, 0}};
    for (const LowBitOps* ops : host_variants())
      for (const Case& c : cases)
        for (auto [wbits, abits] : {std::pair<int, int>{4, 4}, {8, 8}, {4, 8}})
          for (bool wsym : {true, false}) {
            if (wbits == 8 && !wsym) continue;  // (u − zw) must fit int8
            for (bool asym_acts : {true, false}) {
              const Weights w = random_host_weights(wbits, wsym, c.n, c.k, c.w_group, static_cast<uint32_t>(c.n + c.k));
              const std::vector<float> x = random_rows(c.m, c.k, 9);
              FakeQuantParams p;
              p.bits = abits;
              p.symmetric = !asym_acts;
              p.group = c.a_group;
              const Acts a = quantize(lowbit_reference(), x.data(), c.m, c.k, p);
              QVERIFY(int_gemm_supported(w.store.view(), a.group));
              const std::vector<float> xd = dequantize(a, c.m, c.k);
              std::vector<float> bias(c.n, 0.125f);
              std::vector<float> ref(c.m * c.n), got(c.m * c.n, NAN), wo(c.m * c.n);
              lowbit_reference().int_gemm(a.view(), c.m, w.store.view(), bias.data(), ref.data());
              ops->int_gemm(a.view(), c.m, w.store.view(), bias.data(), got.data());
              ops->weight_only_gemm(xd.data(), c.m, w.store.view(), bias.data(), wo.data());
              std::vector<double> scale = abs_products(xd.data(), c.m, w.dequant, c.n, c.k);
              for (double& s : scale) s += 0.125;
              const int64_t blocks = c.k / std::min(a.group, c.w_group);
              const double tol = (blocks + 8) * kEps;
              const QString what = QString("%1 W%2A%3 wsym %4 asym acts %5 m %6 n %7 k %8 groups %9/%10")
                                       .arg(ops->name).arg(wbits).arg(abits).arg(wsym).arg(asym_acts).arg(c.m)
                                       .arg(c.n).arg(c.k).arg(c.w_group).arg(a.group);
              const double worst = worst_ratio(got, ref, scale, tol);
              QVERIFY2(worst <= 1.0, qPrintable(what + QString(": vs reference %1 × tolerance").arg(worst)));
              const double wo_tol = tol + (c.k / 8.0 + c.k / c.w_group + 64) * kEps;
              const double worst_wo = worst_ratio(got, wo, scale, wo_tol);
              QVERIFY2(worst_wo <= 1.0, qPrintable(what + QString(": vs weight-only %1 × tolerance").arg(worst_wo)));
            }
          }
  }

  void intGemmSupported() {
    const Weights w4 = random_host_weights(4, false, 4, 256, 64, 1);
    QVERIFY(int_gemm_supported(w4.store.view(), 256));
    QVERIFY(int_gemm_supported(w4.store.view(), 32));
    QVERIFY(!int_gemm_supported(w4.store.view(), 96));   // neither divides the other
    QVERIFY(!int_gemm_supported(w4.store.view(), 0));
    QVERIFY(!int_gemm_supported(w4.store.view(), 100));  // does not divide k
    const Weights w8s = random_host_weights(8, true, 4, 256, 256, 2);
    QVERIFY(int_gemm_supported(w8s.store.view(), 256));
    const Weights w8a = random_host_weights(8, false, 4, 256, 256, 3);
    bool any_off = false;
    for (float z : w8a.store.zero) any_off |= z != 128.0f;
    QCOMPARE(int_gemm_supported(w8a.store.view(), 256), !any_off);  // asymmetric 8-bit: u − zw overflows int8
  }
};

QTEST_GUILESS_MAIN(TestLowBitKernels)
#include "tst_lowbit_kernels.moc"
