// SPDX-License-Identifier: Apache-2.0
// QSUR (OSTQUANT_SPEC.md §2) against closed forms: the isotropic Gaussian, the (4, 1) ellipse
// rotated by 45° (exact π/5, axis π/4), rotation invariance of the numerator, the optimal rotation
// R = Q·H (equal diagonal), rank-deficient input, the log domain at d = 11008, and the streaming
// moment accumulator against a direct fp64 computation.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <cmath>

#include "core/analysis/moments.h"
#include "core/analysis/qsur.h"
#include "core/engine/runtime.h"

using namespace ostq;

namespace {

at::Tensor random_orthogonal_matrix(int64_t d, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto [q, r] = at::linalg_qr(torch::randn({d, d}, gen, torch::kDouble));
  return q * r.diagonal().sign().unsqueeze(0);
}

// Random SPD matrix with a spread spectrum: A Aᵀ / d + small ridge.
at::Tensor random_spd(int64_t d, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor a =
      torch::randn({d, d}, gen, torch::kDouble) * torch::linspace(0.2, 3.0, d, torch::kDouble);
  return at::mm(a, a.t()) / static_cast<double>(d) + 0.01 * torch::eye(d, torch::kDouble);
}

// Sylvester Hadamard of order 2^k, normalised (H Hᵀ = I).
at::Tensor normalized_hadamard(int64_t n) {
  at::Tensor h = torch::ones({1, 1}, torch::kDouble);
  while (h.size(0) < n) h = torch::cat({torch::cat({h, h}, 1), torch::cat({h, -h}, 1)}, 0);
  return h / std::sqrt(static_cast<double>(n));
}

QsurOptions centered() {
  QsurOptions o;
  o.center = true;
  return o;
}

}  // namespace

class TestQsur : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void chiSquareAndNormalQuantiles() {
    QVERIFY(std::fabs(normal_quantile(0.975) - 1.959963984540054) < 1e-13);
    QVERIFY(std::fabs(normal_quantile(0.01) + 2.326347874040841) < 1e-13);
    QVERIFY(std::fabs(normal_quantile(1e-10) + 6.361340902404056) < 1e-11);
    QVERIFY(std::fabs(chi2_quantile(1, 0.95) - 3.841458820694124) < 1e-12);
    QVERIFY(std::fabs(chi2_quantile(2, 0.99) - 9.210340371976183) < 1e-12);
    // Wilson–Hilferty against tabulated quantiles (R qchisq).
    QVERIFY(std::fabs(chi2_quantile(10, 0.99) / 23.20925 - 1.0) < 2e-3);
    QVERIFY(std::fabs(chi2_quantile(768, 0.99) / 862.1039460 - 1.0) < 1e-4);
  }

  void isotropicGaussian_data() {
    QTest::addColumn<qint64>("d");
    QTest::newRow("d=2") << qint64{2};
    QTest::newRow("d=64") << qint64{64};
    QTest::newRow("d=4096") << qint64{4096};
  }
  void isotropicGaussian() {
    QFETCH(qint64, d);
    const double sigma2 = 2.5;
    at::Tensor cov = torch::eye(d, torch::kDouble) * sigma2;
    at::Tensor mean = torch::zeros({d}, torch::kDouble);
    // μ = 0: QSUR_exact = v_d / 2^d for any c, so both the centred and the μ-including forms give
    // it.
    const double expected_root_log =
        (log_unit_ball_volume(d) - d * std::log(2.0)) / static_cast<double>(d);
    for (const QsurOptions& o : {QsurOptions{}, centered()}) {
      QsurResult r = qsur_from_moments(mean, cov, 0, o);
      QVERIFY2(std::fabs(r.log_exact / d - expected_root_log) < 1e-12,
               qPrintable(QString::number(r.log_exact / d - expected_root_log)));
      QVERIFY(std::fabs(std::log(r.exact_root) - expected_root_log) < 1e-12);
      QVERIFY(!r.rank_deficient);
      QVERIFY(std::fabs(r.lambda_max / sigma2 - 1.0) < 1e-12);
    }
    if (d == 2)
      QVERIFY(std::fabs(std::exp(qsur_from_moments(mean, cov, 0).log_exact) - M_PI / 4.0) < 1e-14);
  }

  void rotatedEllipse2d() {
    // Eigenvalues (4, 1) rotated by 45°: Σ = [[2.5, 1.5], [1.5, 2.5]] (§2.3 check values).
    const double s = std::sqrt(0.5);
    at::Tensor r = torch::tensor({s, -s, s, s}, torch::kDouble).view({2, 2});
    at::Tensor cov =
        at::mm(at::mm(r, torch::diag(torch::tensor({4.0, 1.0}, torch::kDouble))), r.t());
    QsurResult q = qsur_from_moments(torch::zeros({2}, torch::kDouble), cov, 0);
    QVERIFY2(std::fabs(std::exp(q.log_exact) - M_PI / 5.0) < 1e-13,
             qPrintable(QString::number(std::exp(q.log_exact))));
    QVERIFY2(std::fabs(std::exp(q.log_axis) - M_PI / 4.0) < 1e-13,
             qPrintable(QString::number(std::exp(q.log_axis))));
    QVERIFY(std::fabs(q.exact_root - std::sqrt(M_PI / 5.0)) < 1e-13);
    QVERIFY(std::fabs(q.axis_root - std::sqrt(M_PI / 4.0)) < 1e-13);
    QVERIFY(std::fabs(q.c - (-2.0 * std::log(0.01))) < 1e-12);
    // With μ ≠ 0 the cube edge includes μ and c no longer cancels: hand-evaluated §2.3 formula.
    QsurOptions o;
    o.alpha = 0.9;
    QsurResult m = qsur_from_moments(torch::tensor({1.0, -0.5}, torch::kDouble), cov, 0, o);
    const double c = -2.0 * std::log(0.1), half = std::sqrt(c * 2.5);
    const double edge = (1.0 + half) - (-0.5 - half);
    QVERIFY(std::fabs(std::exp(m.log_exact) - M_PI * c * 2.0 / (edge * edge)) < 1e-13);
    // Axis end points μ ± sqrt(cλ)·q, q = (1, 1)/√2: reach sqrt(4c)/√2 on both coordinates.
    const double reach = std::sqrt(4.0 * c) * s;
    const double edge_axis = (1.0 + reach) - (-0.5 - reach);
    QVERIFY(std::fabs(std::exp(m.log_axis) - M_PI * c * 2.0 / (edge_axis * edge_axis)) < 1e-13);
    // Centred, μ is ignored again.
    QsurResult mc =
        qsur_from_moments(torch::tensor({1.0, -0.5}, torch::kDouble), cov, 0, centered());
    QVERIFY(std::fabs(std::exp(mc.log_exact) - M_PI / 5.0) < 1e-13);
  }

  void numeratorIsRotationInvariant_data() {
    QTest::addColumn<qint64>("d");
    QTest::newRow("dense eigh, d=48") << qint64{48};
    QTest::newRow("Lanczos, d=300") << qint64{300};
  }
  void numeratorIsRotationInvariant() {
    QFETCH(qint64, d);
    at::Tensor cov = random_spd(d, 11);
    at::Tensor rot = random_orthogonal_matrix(d, 12);
    at::Tensor cov_r = at::mm(at::mm(rot.t(), cov), rot);
    at::Tensor mean = torch::zeros({d}, torch::kDouble);
    QsurResult a = qsur_from_moments(mean, cov, 0, centered());
    QsurResult b = qsur_from_moments(mean, cov_r, 0, centered());
    // log QSUR + d·log(edge) = log v_d + (d/2) log c + ½ log det Σ: unchanged by any rotation.
    auto numerator = [&](const QsurResult& r) {
      return r.log_exact + d * std::log(2.0 * std::sqrt(r.c * r.max_var));
    };
    QVERIFY2(std::fabs(numerator(a) - numerator(b)) < 1e-9 * std::fabs(numerator(a)),
             qPrintable(QString::number(numerator(a) - numerator(b))));
    QVERIFY(std::fabs(a.log_det - b.log_det) < 1e-9 * std::fabs(a.log_det) + 1e-9);
    QVERIFY(std::fabs(a.lambda_max / b.lambda_max - 1.0) < 1e-10);
    // The top eigenpair against a dense eigh (Lanczos for d > 256).
    auto [w, v] = at::linalg_eigh(cov);
    TopEigen top = top_eigenpair(cov);
    QVERIFY(std::fabs(top.value / w[d - 1].item<double>() - 1.0) < 1e-12);
    QVERIFY(std::fabs(std::fabs(at::dot(top.vector, v.select(1, d - 1)).item<double>()) - 1.0) <
            1e-8);
    QVERIFY(top.converged);
  }

  void eigenbasisThenHadamardIsOptimal() {
    const int64_t d = 64;
    at::Tensor cov = random_spd(d, 21);
    auto [lam, q] = at::linalg_eigh(cov);
    at::Tensor rot = at::mm(q, normalized_hadamard(d));  // R = Q·H
    at::Tensor cov_r = at::mm(at::mm(rot.t(), cov), rot);
    const double mean_var = cov.trace().item<double>() / d;
    QVERIFY((cov_r.diagonal() - mean_var).abs().max().item<double>() < 1e-12 * mean_var * d);
    at::Tensor mean = torch::zeros({d}, torch::kDouble);
    QsurResult before = qsur_from_moments(mean, cov, 0, centered());
    QsurResult after = qsur_from_moments(mean, cov_r, 0, centered());
    QVERIFY2(after.exact_root > before.exact_root,
             qPrintable(QStringLiteral("%1 -> %2").arg(before.exact_root).arg(after.exact_root)));
    // Closed form at equal diagonal: v_d·sqrt(det Σ) / (2^d·(tr Σ/d)^{d/2}).
    const double log_det = lam.log().sum().item<double>();
    const double closed =
        log_unit_ball_volume(d) + 0.5 * log_det - d * std::log(2.0) - 0.5 * d * std::log(mean_var);
    QVERIFY(std::fabs(after.log_exact - closed) / d < 1e-11);
    // No other rotation does better (the equal diagonal minimises max_j Σ_jj).
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      at::Tensor r2 = random_orthogonal_matrix(d, 100 + seed);
      QsurResult other = qsur_from_moments(mean, at::mm(at::mm(r2.t(), cov), r2), 0, centered());
      QVERIFY(other.exact_root <= after.exact_root + 1e-12);
    }
    // Axis form: q_max' = Hᵀe_d is flat (‖q‖_∞ = d^{-1/2}): QSUR_rot,max of §2.2.
    const double lmax = lam[d - 1].item<double>();
    const double rot_max = log_unit_ball_volume(d) + 0.5 * d * std::log(static_cast<double>(d)) -
                           d * std::log(2.0) + 0.5 * (log_det - d * std::log(lmax));
    QVERIFY(std::fabs(after.qmax_inf - 1.0 / std::sqrt(static_cast<double>(d))) < 1e-9);
    QVERIFY(std::fabs(after.log_axis - rot_max) / d < 1e-9);
    QVERIFY(after.axis_root > before.axis_root);
  }

  void rankDeficientIsFlaggedAndFinite() {
    at::Generator gen = at::detail::createCPUGenerator(5);
    // Fewer samples than dimensions.
    QsurResult few = qsur_from_samples(torch::randn({10, 64}, gen, torch::kDouble));
    QVERIFY(few.rank_deficient);
    QVERIFY(std::isfinite(few.log_exact) && std::isfinite(few.log_axis));
    QVERIFY(few.exact_root > 0.0 && few.exact_root < 1.0);
    QCOMPARE(few.samples, qint64{10});
    // A dead channel among many samples.
    at::Tensor x = torch::randn({2000, 32}, gen, torch::kDouble);
    x.select(1, 5).zero_();
    QsurResult dead = qsur_from_samples(x);
    QVERIFY(dead.rank_deficient);
    QVERIFY(std::isfinite(dead.log_exact));
    // Two identical channels (singular without a zero diagonal), Lanczos-sized.
    at::Tensor y = torch::randn({3000, 300}, gen, torch::kDouble);
    y.select(1, 7).copy_(y.select(1, 3));
    QsurResult dup = qsur_from_samples(y);
    QVERIFY(dup.rank_deficient);
    QVERIFY(std::isfinite(dup.log_exact));
    // Full rank is not flagged, and beats its rank-deficient variants.
    QsurResult full = qsur_from_samples(torch::randn({2000, 32}, gen, torch::kDouble));
    QVERIFY(!full.rank_deficient);
    QVERIFY(full.exact_root > dead.exact_root);
    // The floor itself: Σ = diag(1, …, 1, 0) has numerical rank 15, the zero eigenvalue floored at
    // τ.
    at::Tensor diag = torch::ones({16}, torch::kDouble);
    diag[15] = 0.0;
    FlooredLogDet fl = log_det_floored(torch::diag(diag), 1.0, 1e-12);
    QVERIFY(fl.rank_deficient);
    QCOMPARE(fl.rank, qint64{15});
    QVERIFY(std::fabs(fl.value - std::log(1e-12)) < 1e-9);
    // All zero: flagged, log −inf, root 0 (documented), no NaN.
    QsurResult zero = qsur_from_moments(torch::zeros({8}, torch::kDouble),
                                        torch::zeros({8, 8}, torch::kDouble), 100);
    QVERIFY(zero.rank_deficient);
    QVERIFY(std::isinf(zero.log_exact) && zero.log_exact < 0);
    QCOMPARE(zero.exact_root, 0.0);
  }

  void noOverflowAtLargeD() {
    const int64_t d = 11008;                       // LLaMA-7B d_ff
    QVERIFY(std::isinf(std::pow(M_PI, d / 2.0)));  // what the direct formula would hit
    at::Generator gen = at::detail::createCPUGenerator(3);
    at::Tensor var =
        torch::rand({d}, gen, torch::kDouble) * 1.5 + 0.5;  // diagonal Σ, entries in [0.5, 2]
    QsurSpectrum s;
    s.mean = torch::zeros({d}, torch::kDouble);
    s.diag = var;
    const int64_t top = var.argmax().item<int64_t>();
    s.q_max = torch::zeros({d}, torch::kDouble);
    s.q_max[top] = 1.0;
    s.lambda_max = var.max().item<double>();
    s.log_det = var.log().sum().item<double>();
    QsurResult r = qsur_from_spectrum(s);
    QVERIFY(std::isfinite(r.log_exact) && std::isfinite(r.log_axis));
    QVERIFY(r.exact_root > 0.0 && r.axis_root > 0.0);
    // μ = 0: root = v_d^{1/d}/2 · geomean(σ_j)/max σ_j, with v_d^{1/d} ~ sqrt(2πe/d) for large d.
    const double expected = std::exp(log_unit_ball_volume(d) / d) / 2.0 *
                            std::exp(0.5 * var.log().mean().item<double>()) /
                            std::sqrt(s.lambda_max);
    QVERIFY(std::fabs(r.exact_root / expected - 1.0) < 1e-12);
    QVERIFY(std::fabs(std::exp(log_unit_ball_volume(d) / d) / std::sqrt(2.0 * M_PI * M_E / d) -
                      1.0) < 1e-3);
    // The axis form equals the exact one when q_max is a coordinate axis of a diagonal Σ.
    QVERIFY(std::fabs(r.log_axis - r.log_exact) < 1e-9 * std::fabs(r.log_exact));
  }

  void samplesAgreeWithStreamingMoments() {
    const int64_t n = 6000, d = 40;
    at::Generator gen = at::detail::createCPUGenerator(9);
    at::Tensor mix = torch::randn({d, d}, gen, torch::kDouble) / std::sqrt(static_cast<double>(d));
    at::Tensor x = at::mm(torch::randn({n, d}, gen, torch::kDouble), mix) + 3.0 +
                   torch::linspace(-2.0, 2.0, d, torch::kDouble);  // far from zero mean
    at::Tensor xf = x.to(torch::kFloat);
    QsurResult direct = qsur_from_samples(xf);
    for (bool fp64 : {false, true}) {
      MomentsOptions mo;
      mo.fp64_products = fp64;
      MomentAccumulator acc(d, mo);
      for (int64_t b = 0; b < n; b += 1000) acc.add(xf.narrow(0, b, 1000));
      QCOMPARE(acc.count(), n);
      QsurResult streamed = qsur_from_moments(acc.mean(), acc.covariance(), acc.count());
      const double tol = fp64 ? 1e-10 : 1e-5;
      QVERIFY2(std::fabs(streamed.exact_root / direct.exact_root - 1.0) < tol,
               qPrintable(QString::number(streamed.exact_root / direct.exact_root - 1.0)));
      QVERIFY(std::fabs(streamed.axis_root / direct.axis_root - 1.0) < tol);
      QCOMPARE(streamed.samples, n);
    }
    // Per-channel moments against direct fp64 formulas.
    MomentAccumulator acc(d, MomentsOptions{false, false});
    acc.add(xf.narrow(0, 0, 2500));
    acc.add(xf.narrow(0, 2500, n - 2500));
    at::Tensor xd = xf.to(torch::kDouble);
    at::Tensor mu = xd.mean(0), c = xd - mu;
    at::Tensor var = (c * c).mean(0);
    at::Tensor kurt = (c.pow(4)).mean(0) / (var * var);
    QVERIFY((acc.mean() - mu).abs().max().item<double>() < 1e-12);
    QVERIFY(((acc.variance() - var) / var).abs().max().item<double>() < 1e-10);
    QVERIFY(((acc.kurtosis() - kurt) / kurt).abs().max().item<double>() < 1e-9);
    QVERIFY(at::equal(acc.absmax(), xf.abs().amax(0)));
    PooledMoments p = acc.pooled();
    at::Tensor all = xd.flatten();
    const double pm = all.mean().item<double>(), pv = (all - pm).pow(2).mean().item<double>();
    QVERIFY(std::fabs(p.mean - pm) < 1e-12);
    QVERIFY(std::fabs(p.variance / pv - 1.0) < 1e-11);
    QVERIFY(std::fabs(p.kurtosis / ((all - pm).pow(4).mean().item<double>() / (pv * pv)) - 1.0) <
            1e-10);
  }
};

QTEST_GUILESS_MAIN(TestQsur)
#include "tst_qsur.moc"
