// SPDX-License-Identifier: Apache-2.0
// The fake quantizers of OSTQUANT_SPEC.md §7.1 on hand-computed rows (rows chosen so that no
// x/s lands on a .5 tie), plus properties on random data: error bounds, zero rows, dtypes, the
// straight-through estimator and the weight MSE clip search.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "core/quant/fake_quant_ste.h"
#include "core/quant/quantizer.h"

using namespace ostq;

namespace {

at::Tensor row(std::vector<float> v) { return torch::tensor(v, torch::kFloat).view({1, -1}); }

bool close(const at::Tensor& a, const at::Tensor& b, double tol = 1e-6) {
  return a.sizes() == b.sizes() &&
         (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() <= tol;
}

#define EXPECT_CLOSE(a, b)                                                               \
  QVERIFY2(close((a), (b)), qPrintable(QString("got %1 expected %2")                     \
                                           .arg(QString::fromStdString(torch::str((a)))) \
                                           .arg(QString::fromStdString(torch::str((b))))))

ActQuantSpec act(int bits, bool sym, double clip = 1.0, int64_t group = 0) {
  ActQuantSpec s;
  s.bits = bits;
  s.symmetric = sym;
  s.clip_ratio = clip;
  s.group_size = group;
  return s;
}

WeightQuantSpec wspec(int bits, bool sym, int64_t group = 0, bool mse = false) {
  WeightQuantSpec s;
  s.bits = bits;
  s.symmetric = sym;
  s.group_size = group;
  s.mse_clip = mse;
  return s;
}

// Σ|q − x|^norm per row: the MSE search's own objective.
at::Tensor norm_error(const at::Tensor& q, const at::Tensor& x, double norm) {
  return (q - x).abs().pow(norm).sum(1);
}

}  // namespace

class TestQuantizer : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { torch::manual_seed(1234); }

  void asymPerToken() {
    // [-1, 0.75, 0.45, 2]: s = 3/15 = 0.2, z = round(1/0.2) = 5; x/s = -5, 3.75, 2.25, 10
    // → round + z = 0, 9, 7, 15 → (· − 5)·0.2 = -1, 0.8, 0.4, 2.
    EXPECT_CLOSE(fake_quant_activation(row({-1, 0.75, 0.45, 2}), act(4, false)),
                 row({-1, 0.8, 0.4, 2}));
    // All positive: xmin = min(0.12, 0) = 0, s = 1.5/15 = 0.1, z = 0; x/s = 1.2, 7.7, 10, 15.
    EXPECT_CLOSE(fake_quant_activation(row({0.12, 0.77, 1.0, 1.5}), act(4, false)),
                 row({0.1, 0.8, 1.0, 1.5}));
    // Leading dimensions are tokens: each row has its own range.
    at::Tensor two =
        torch::cat({row({-1, 0.75, 0.45, 2}), row({0.12, 0.77, 1.0, 1.5})}).view({1, 2, 4});
    EXPECT_CLOSE(fake_quant_activation(two, act(4, false)),
                 torch::cat({row({-1, 0.8, 0.4, 2}), row({0.1, 0.8, 1.0, 1.5})}).view({1, 2, 4}));
  }

  void symSpecAndAbsMax() {
    const at::Tensor x = row({-2.4, 0.3, 0.65, 1.4});
    // Spec: s = max(2.4/8, 1.4/7) = 0.3; x/s = -8, 1, 2.17, 4.67 → -8, 1, 2, 5.
    EXPECT_CLOSE(fake_quant_activation(x, act(4, true)), row({-2.4, 0.3, 0.6, 1.5}));
    // AbsMax: s = 2.4/7; x/s = -7, 0.875, 1.90, 4.08 → -7, 1, 2, 4.
    ActQuantSpec a = act(4, true);
    a.sym_scale = SymmetricScale::kAbsMax;
    const float s = 2.4f / 7.0f;
    EXPECT_CLOSE(fake_quant_activation(x, a), row({-7 * s, s, 2 * s, 4 * s}));
    // Spec scale where xmax dominates: s = max(0.4/8, 1.4/7) = 0.2 → -0.4 is code -2.
    EXPECT_CLOSE(fake_quant_activation(row({-0.4, 1.4}), act(4, true)), row({-0.4, 1.4}));
  }

  void groupedPerToken() {
    // Groups [-1, 0.5]: s = 0.1, z = 10 (exact endpoints); [0.15, 3]: s = 0.2, z = 0,
    // 0.15/0.2 = 0.75 → 1 → 0.2.
    EXPECT_CLOSE(fake_quant_activation(row({-1, 0.5, 0.15, 3}), act(4, false, 1.0, 2)),
                 row({-1, 0.5, 0.2, 3}));
    // Per token the same row has s = 4/15, z = round(3.75) = 4: codes 0, 6, 5, 15.
    const float s = 4.0f / 15.0f;
    EXPECT_CLOSE(fake_quant_activation(row({-1, 0.5, 0.15, 3}), act(4, false)),
                 row({-4 * s, 2 * s, 1 * s, 11 * s}));
    bool threw = false;
    try {
      fake_quant_activation(row({1, 2, 3}), act(4, false, 1.0, 2));
    } catch (const StatusError&) {
      threw = true;
    }
    QVERIFY(threw);
  }

  void clipRatio() {
    // clip 0.5 on [-1, 0.72, 0.43, 2]: range [-0.5, 1], s = 0.1, z = 5; x/s + z = -5, 12.2, 9.3, 25
    // → clamp 0, 12, 9, 15 → -0.5, 0.7, 0.4, 1.0.
    EXPECT_CLOSE(fake_quant_activation(row({-1, 0.72, 0.43, 2}), act(4, false, 0.5)),
                 row({-0.5, 0.7, 0.4, 1.0}));
  }

  void sixteenBitsIsIdentity() {
    at::Tensor x = torch::randn({3, 5});
    QVERIFY(torch::equal(fake_quant_activation(x, act(16, false)), x));
    QVERIFY(torch::equal(fake_quant_weight(x, wspec(16, true, 0, true)), x));
    WeightQuantGrid g = weight_quant_grid(x, wspec(16, true));
    QCOMPARE(g.bits, 16);
    QVERIFY(torch::equal(weight_quant_apply(x, g), x));
    QCOMPARE(QString::fromStdString(act(16, false).describe()), QString("A16"));
  }

  void eightBitErrorBound() {
    at::Tensor x = torch::randn({64, 256}) * torch::rand({64, 1}) * 5;
    at::Tensor err = (fake_quant_activation(x, act(8, false)) - x).abs();
    // Per row s = (max(xmax, 0) − min(xmin, 0))/255; nothing is clamped at clip 1.
    at::Tensor s =
        (std::get<0>(x.max(1, true)).clamp_min(0) - std::get<0>(x.min(1, true)).clamp_max(0)) / 255;
    QVERIFY((err <= s / 2 + 1e-6).all().item<bool>());
    at::Tensor errw = (fake_quant_weight(x, wspec(8, true)) - x).abs();
    at::Tensor sw = weight_quant_grid(x, wspec(8, true)).scale;
    QVERIFY((errw <= sw / 2 + 1e-6).all().item<bool>());
  }

  void zeroRowsStayFinite() {
    at::Tensor z = torch::zeros({2, 8});
    ActQuantSpec absmax = act(4, true);
    absmax.sym_scale = SymmetricScale::kAbsMax;
    for (const ActQuantSpec& s : {act(4, false), act(4, true), absmax, act(4, false, 0.9, 4)}) {
      QVERIFY(torch::equal(fake_quant_activation(z, s), z));
    }
    for (const WeightQuantSpec& s :
         {wspec(4, true, 0, true), wspec(4, false, 4, true), wspec(3, false)}) {
      QVERIFY(torch::equal(fake_quant_weight(z, s), z));
      QVERIFY(torch::isfinite(weight_quant_grid(z, s).scale).all().item<bool>());
    }
  }

  void bf16InBf16Out() {
    at::Tensor x = torch::randn({4, 32}).to(torch::kBFloat16);
    at::Tensor y = fake_quant_activation(x, act(4, false));
    QCOMPARE(y.scalar_type(), torch::kBFloat16);
    QVERIFY(torch::equal(
        y, fake_quant_activation(x.to(torch::kFloat), act(4, false)).to(torch::kBFloat16)));
    at::Tensor w = fake_quant_weight(x, wspec(4, true, 0, true));
    QCOMPARE(w.scalar_type(), torch::kBFloat16);
    QCOMPARE(fake_quant_activation(x.to(torch::kDouble), act(4, false)).scalar_type(),
             torch::kDouble);
  }

  void steValueIsBitIdentical() {
    at::Tensor x = torch::randn({16, 64}) * 3;
    for (const ActQuantSpec& s :
         {act(4, false), act(4, true), act(3, false, 0.8, 16), act(8, true, 0.9)}) {
      QVERIFY(torch::equal(fake_quant_activation(x, s, true), fake_quant_activation(x, s, false)));
    }
    for (const WeightQuantSpec& s : {wspec(4, true, 0, true), wspec(3, false, 16, true)}) {
      QVERIFY(torch::equal(fake_quant_weight(x, s, true), fake_quant_weight(x, s, false)));
    }
  }

  // d Σ x̂ / dx = 1 where round(x/s) + z is inside [qmin, qmax], 0 where clamped. The row's
  // min and max elements also receive the scale's gradient (scales are differentiable), so
  // they are left out.
  void steGradient() {
    at::Tensor x = torch::linspace(-1.0, 2.0, 61).view({1, -1});
    x = x + 0.013;  // no x/s ties
    x.requires_grad_(true);
    fake_quant_activation(x, act(4, false, 0.5), true).sum().backward();
    const at::Tensor g = x.grad().view(-1);
    const at::Tensor xv = x.detach().view(-1);
    // clip 0.5: range [-0.4935, 1.0065]·… computed as the quantizer does.
    const double xmin = std::min(xv.min().item<double>(), 0.0) * 0.5,
                 xmax = xv.max().item<double>() * 0.5;
    const double s = (xmax - xmin) / 15, z = std::nearbyint(-xmin / s);
    int inside = 0, clamped = 0;
    for (int64_t i = 1; i + 1 < xv.numel(); ++i) {
      const double c = std::nearbyint(xv[i].item<double>() / s) + z;
      const double gi = g[i].item<double>();
      if (c >= 0 && c <= 15) {
        QVERIFY2(std::abs(gi - 1.0) < 1e-6,
                 qPrintable(QString("element %1 grad %2").arg(i).arg(gi)));
        ++inside;
      } else {
        QVERIFY2(gi == 0.0, qPrintable(QString("element %1 grad %2").arg(i).arg(gi)));
        ++clamped;
      }
    }
    QVERIFY(inside > 10 && clamped > 10);
    // Weights: the grid is a constant, so the gradient is exactly the in-range mask everywhere.
    at::Tensor w = (torch::randn({8, 32}) * 2).requires_grad_(true);
    fake_quant_weight(w, wspec(3, true, 0, true), true).sum().backward();
    QVERIFY(((w.grad() == 0) | (w.grad() == 1)).all().item<bool>());
    QVERIFY((w.grad() == 1).any().item<bool>());
  }

  // The fused STE node (what training uses) against the composition of autograd ops, fp64: same
  // value, same gradient (in range, clamped, the scale's path to the row extremes, tied maxima).
  void fusedSteMatchesTheComposition() {
    at::Tensor x = torch::randn({24, 32}, torch::kDouble) * torch::exp(torch::rand({32}, torch::kDouble) * 2);
    x.select(0, 3).select(0, 5).fill_(9.0);  // a tied maximum in row 3
    x.select(0, 3).select(0, 17).fill_(9.0);
    const at::Tensor c = torch::randn({24, 32}, torch::kDouble);
    for (const ActQuantSpec& s :
         {act(4, false), act(4, false, 0.8), act(4, true), act(3, false, 0.9, 8), act(8, true, 0.9, 16)}) {
      at::Tensor a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
      at::Tensor qa = fake_quant_activation_ste(a, s), qb = fake_quant_activation_reference(b, s, true);
      QVERIFY(torch::equal(qa.detach(), qb.detach()));
      ((c * qa).sum() + 0.5 * qa.square().sum()).backward();
      ((c * qb).sum() + 0.5 * qb.square().sum()).backward();
      const double d = (a.grad() - b.grad()).abs().max().item<double>() / b.grad().abs().max().item<double>();
      QVERIFY2(d <= 1e-12, qPrintable(QString::fromStdString(s.describe()) + QString(": %1").arg(d)));
    }
  }

  void weightPerChannelSym() {
    // Row 0 as in symSpecAndAbsMax (s = 0.3); row 1: s = max(0.1/8, 0.7/7) = 0.1, all on grid.
    at::Tensor w = torch::cat({row({-2.4, 0.3, 0.65, 1.4}), row({0.5, -0.1, 0.2, 0.7})});
    WeightQuantGrid g = weight_quant_grid(w, wspec(4, true));
    EXPECT_CLOSE(g.scale, torch::tensor({0.3f, 0.1f}).view({2, 1}));
    QCOMPARE(g.qmin(), int64_t{-8});
    QCOMPARE(g.qmax(), int64_t{7});
    EXPECT_CLOSE(weight_quant_apply(w, g),
                 torch::cat({row({-2.4, 0.3, 0.6, 1.5}), row({0.5, -0.1, 0.2, 0.7})}));
    QCOMPARE(QString::fromStdString(wspec(4, true, 0, true).describe()),
             QString("W4 sym per-channel mse(2.4)"));
    QCOMPARE(QString::fromStdString(act(4, false).describe()), QString("A4 asym per-token"));
    QCOMPARE(QString::fromStdString(act(4, false, 0.9, 8).describe()),
             QString("A4 asym group 8 clip 0.90"));
  }

  void weightGroupedAsym() {
    // As groupedPerToken: group 0 s = 0.1, z = 10; group 1 s = 0.2, z = 0.
    at::Tensor w = row({-1, 0.5, 0.15, 3});
    WeightQuantGrid g = weight_quant_grid(w, wspec(4, false, 2));
    EXPECT_CLOSE(g.scale, torch::tensor({0.1f, 0.2f}).view({1, 2}));
    EXPECT_CLOSE(g.zero, torch::tensor({10.0f, 0.0f}).view({1, 2}));
    EXPECT_CLOSE(weight_quant_apply(w, g), row({-1, 0.5, 0.2, 3}));
    // A column slice picks its group from first_col.
    EXPECT_CLOSE(weight_quant_apply(w.narrow(1, 2, 2), g, 2), row({0.2, 3}));
    // A partial last group (5 columns, group 2) is quantized like its own short row.
    at::Tensor w5 = row({-1, 0.5, 0.15, 3, 0.45});
    WeightQuantGrid g5 = weight_quant_grid(w5, wspec(4, false, 2));
    QCOMPARE(g5.scale.size(1), int64_t{3});
    EXPECT_CLOSE(weight_quant_apply(w5, g5).narrow(1, 4, 1),
                 fake_quant_activation(row({0.45}), act(4, false)));
  }

  void codesAndApplyAgree() {
    at::Tensor w = torch::randn({32, 96}) * torch::rand({32, 1});
    for (const WeightQuantSpec& s :
         {wspec(4, true, 0, true), wspec(3, false, 32, true), wspec(8, true), wspec(8, false)}) {
      WeightQuantGrid g = weight_quant_grid(w, s);
      at::Tensor codes = weight_quant_codes(w, g);
      QVERIFY(codes.scalar_type() == (s.symmetric || s.bits < 8 ? torch::kChar : torch::kShort));
      QVERIFY(codes.min().item<int64_t>() >= g.qmin() && codes.max().item<int64_t>() <= g.qmax());
      const int64_t gs = s.group_size > 0 ? s.group_size : w.size(1);
      at::Tensor sc = g.scale.repeat_interleave(gs, 1), zc = g.zero.repeat_interleave(gs, 1);
      QVERIFY(torch::equal((codes.to(torch::kFloat) - zc) * sc, weight_quant_apply(w, g)));
      QVERIFY(torch::equal(weight_quant_apply(w, g), fake_quant_weight(w, s)));
    }
  }

  void mseSearchNeverWorse() {
    at::Tensor w = torch::randn({64, 128}) * torch::exp(torch::randn({64, 128}));  // heavy tails
    for (const WeightQuantSpec& base : {wspec(4, true), wspec(3, false), wspec(4, false, 32)}) {
      WeightQuantSpec on = base;
      on.mse_clip = true;
      const at::Tensor e_on = norm_error(fake_quant_weight(w, on), w, on.mse_norm);
      const at::Tensor e_off = norm_error(fake_quant_weight(w, base), w, on.mse_norm);
      // 1e-5: the test sums the row in a different order than the search.
      QVERIFY((e_on <= e_off * (1 + 1e-5)).all().item<bool>());
      QVERIFY(e_on.sum().item<double>() < e_off.sum().item<double>());
    }
  }

  void mseSearchShrinksAnOutlierRow() {
    // 255 N(0,1) values and one 8: with p = 1 the step is 8/7 and the bulk rounds coarsely;
    // clipping the outlier by a few percent costs less than it saves on the bulk.
    at::Tensor w = torch::randn({1, 256});
    w[0][17] = 8.0;
    const double s_off = weight_quant_grid(w, wspec(4, true)).scale.item<double>();
    const double s_on = weight_quant_grid(w, wspec(4, true, 0, true)).scale.item<double>();
    QVERIFY(std::abs(s_off - 8.0 / 7.0) < 1e-6);
    QVERIFY2(s_on < s_off * 0.999, qPrintable(QString("p = %1").arg(s_on / s_off)));
    QVERIFY(s_on >= s_off * 0.2 - 1e-6);  // never below 1 − 79/100
  }
};

QTEST_GUILESS_MAIN(TestQuantizer)
#include "tst_quantizer.moc"
