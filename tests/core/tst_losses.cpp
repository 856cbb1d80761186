// SPDX-License-Identifier: Apache-2.0
// Calibration losses of OSTQUANT_SPEC.md §6 and §15.6: KL-Top against a direct fp64 evaluation
// of the formula written here with plain loops, its gradient against the analytic form
// m_p·q_j − p_j·1[j∈I] and against central finite differences, exact chunking over positions,
// k capped at V, full KL, and cross-entropy against at::cross_entropy_loss.
// Tolerances: values 1e-5 relative (fp32 arithmetic) against fp64; gradients 1e-12 (fp64) /
// 1e-6 (fp32) absolute against the analytic form; finite differences (h = 1e-5, fp64) 1e-7
// relative to the largest gradient entry; chunk sums 1e-6 relative.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "core/calib/losses.h"
#include "core/util/status.h"

using namespace ostq;

namespace {

constexpr int64_t kP = 7, kV = 50;

at::Tensor random_logits(uint64_t seed, at::ScalarType dtype = at::kFloat, int64_t p = kP, int64_t v = kV) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return (3.0 * at::randn({p, v}, gen, at::TensorOptions().dtype(at::kDouble))).to(dtype);
}

at::Tensor random_labels(uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randint(0, kV, {kP}, gen, at::TensorOptions().dtype(at::kLong));
}

double rel(double a, double ref) { return std::abs(a - ref) / std::abs(ref); }

// log Σ_j exp(z_j) of one row, fp64.
double log_partition(const double* z, int64_t v) {
  const double mx = *std::max_element(z, z + v);
  double s = 0;
  for (int64_t j = 0; j < v; ++j) s += std::exp(z[j] - mx);
  return mx + std::log(s);
}

// §6 evaluated directly in fp64: Σ_positions Σ_{i∈top-k(teacher)} p_i (log p_i − log q_i).
double direct_kl_top(const at::Tensor& student, const at::Tensor& teacher, int64_t k) {
  const at::Tensor s = student.detach().to(at::kDouble).contiguous(), t = teacher.to(at::kDouble).contiguous();
  const int64_t p_count = s.size(0), v = s.size(1), kk = std::min(k, v);
  double total = 0;
  for (int64_t p = 0; p < p_count; ++p) {
    const double* sp = s.data_ptr<double>() + p * v;
    const double* tp = t.data_ptr<double>() + p * v;
    const double zt = log_partition(tp, v), zs = log_partition(sp, v);
    std::vector<int64_t> order(v);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return tp[a] > tp[b]; });
    for (int64_t r = 0; r < kk; ++r) {
      const int64_t i = order[r];
      const double log_p = tp[i] - zt, log_q = sp[i] - zs;
      total += std::exp(log_p) * (log_p - log_q);
    }
  }
  return total;
}

// ∂/∂student of Σ KL-Top: m_p·q_j − p_j·1[j∈I] (§6), fp64, from the cached teacher side.
at::Tensor analytic_grad(const at::Tensor& student, const TeacherTopK& teacher) {
  const at::Tensor q = at::softmax(student.detach().to(at::kDouble), 1);
  const at::Tensor p_top = teacher.logp.to(at::kDouble).exp();                       // [P, k]
  const at::Tensor p_in_i = at::zeros_like(q).scatter(1, teacher.index, p_top);      // p_j·1[j∈I]
  return p_top.sum(1, true) * q - p_in_i;
}

void check_throws_invalid(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const StatusError& e) {
    QCOMPARE(e.status().code(), StatusCode::kInvalidInput);
    return;
  }
  QFAIL("expected a StatusError");
}

}  // namespace

class TestLosses : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void klTopMatchesDirectEvaluation_data() {
    QTest::addColumn<int64_t>("k");
    QTest::newRow("k=10") << int64_t{10};
    QTest::newRow("k=1") << int64_t{1};
    QTest::newRow("k=V") << kV;
  }

  void klTopMatchesDirectEvaluation() {
    QFETCH(int64_t, k);
    const at::Tensor teacher = random_logits(1), student = random_logits(2);
    const double got = kl_top_loss_sum(student, teacher_topk(teacher, k)).item<double>();
    const double want = direct_kl_top(student, teacher, k);
    qInfo("k=%lld: %.8g vs direct %.8g", static_cast<long long>(k), got, want);
    QVERIFY2(rel(got, want) < 1e-5, qPrintable(QString("%1 vs %2").arg(got).arg(want)));
    // The student's bf16 logits are computed in fp32 too.
    const at::Tensor student_bf16 = student.to(at::kBFloat16);
    const double got_bf16 = kl_top_loss_sum(student_bf16, teacher_topk(teacher, k)).item<double>();
    QVERIFY(rel(got_bf16, direct_kl_top(student_bf16, teacher, k)) < 1e-5);
  }

  void klTopGradientIsAnalytic_data() {
    QTest::addColumn<bool>("fp64");
    QTest::newRow("fp64") << true;
    QTest::newRow("fp32") << false;
  }

  void klTopGradientIsAnalytic() {
    QFETCH(bool, fp64);
    const TeacherTopK teacher = teacher_topk(random_logits(3), 10);
    const at::Tensor student = random_logits(4, fp64 ? at::kDouble : at::kFloat).set_requires_grad(true);
    kl_top_loss_sum(student, teacher).backward();
    const double err = (student.grad().to(at::kDouble) - analytic_grad(student, teacher)).abs().max().item<double>();
    QVERIFY2(err < (fp64 ? 1e-12 : 1e-6), qPrintable(QString::number(err)));
  }

  // §15.6: central differences in fp64 on every logit.
  void klTopGradientMatchesFiniteDifferences() {
    const TeacherTopK teacher = teacher_topk(random_logits(5), 10);
    const at::Tensor student = random_logits(6, at::kDouble).set_requires_grad(true);
    kl_top_loss_sum(student, teacher).backward();
    const at::Tensor grad = student.grad();
    const double h = 1e-5;
    at::Tensor fd = at::zeros_like(grad);
    at::Tensor probe = student.detach().clone();
    for (int64_t p = 0; p < kP; ++p) {
      for (int64_t j = 0; j < kV; ++j) {
        const double x = probe[p][j].item<double>();
        probe[p][j] = x + h;
        const double up = kl_top_loss_sum(probe, teacher).item<double>();
        probe[p][j] = x - h;
        const double down = kl_top_loss_sum(probe, teacher).item<double>();
        probe[p][j] = x;
        fd[p][j] = (up - down) / (2 * h);
      }
    }
    const double err = (grad - fd).abs().max().item<double>() / grad.abs().max().item<double>();
    qInfo("finite differences: max error %.2e relative to max |grad| %.3g", err, grad.abs().max().item<double>());
    QVERIFY2(err < 1e-7, qPrintable(QString::number(err)));
    // Logits outside I get gradient through the log-partition (§6): m_p·q_j ≠ 0.
    at::Tensor outside = at::ones_like(grad, at::kBool).scatter(1, teacher.index, false);
    QVERIFY(grad.masked_select(outside).abs().min().item<double>() > 0);
  }

  // The loss is a sum over positions: chunks computed separately (teacher side included) add up.
  void chunksAddUp() {
    const at::Tensor teacher = random_logits(7), student = random_logits(8);
    const at::Tensor labels = random_labels(1);
    const int64_t cut = 3;
    auto chunk = [&](const at::Tensor& t, int64_t a, int64_t b) { return t.slice(0, a, b); };
    const double whole = kl_top_loss_sum(student, teacher_topk(teacher, 10)).item<double>();
    const double parts = kl_top_loss_sum(chunk(student, 0, cut), teacher_topk(chunk(teacher, 0, cut), 10)).item<double>() +
                         kl_top_loss_sum(chunk(student, cut, kP), teacher_topk(chunk(teacher, cut, kP), 10)).item<double>();
    QVERIFY2(rel(parts, whole) < 1e-6, qPrintable(QString("%1 vs %2").arg(parts).arg(whole)));
    const double kl_whole = kl_full_loss_sum(student, teacher).item<double>();
    const double kl_parts = kl_full_loss_sum(chunk(student, 0, cut), chunk(teacher, 0, cut)).item<double>() +
                            kl_full_loss_sum(chunk(student, cut, kP), chunk(teacher, cut, kP)).item<double>();
    QVERIFY(rel(kl_parts, kl_whole) < 1e-6);
    const double ce_whole = cross_entropy_loss_sum(student, labels).item<double>();
    const double ce_parts = cross_entropy_loss_sum(chunk(student, 0, cut), chunk(labels, 0, cut)).item<double>() +
                            cross_entropy_loss_sum(chunk(student, cut, kP), chunk(labels, cut, kP)).item<double>();
    QVERIFY(rel(ce_parts, ce_whole) < 1e-6);
  }

  void kIsCappedAtVocabulary() {
    const at::Tensor teacher = random_logits(9), student = random_logits(10);
    const TeacherTopK capped = teacher_topk(teacher, 1000);  // §6 default k on a V = 50 vocabulary
    QCOMPARE(capped.index.size(1), kV);
    QCOMPARE(capped.logp.size(1), kV);
    const double a = kl_top_loss_sum(student, capped).item<double>();
    const double b = kl_top_loss_sum(student, teacher_topk(teacher, kV)).item<double>();
    QCOMPARE(a, b);
  }

  void fullKlEqualsKlTopWithAllTokens() {
    const at::Tensor teacher = random_logits(11), student = random_logits(12);
    const double full = kl_full_loss_sum(student, teacher).item<double>();
    const double top = kl_top_loss_sum(student, teacher_topk(teacher, kV)).item<double>();
    QVERIFY2(rel(full, top) < 1e-5, qPrintable(QString("%1 vs %2").arg(full).arg(top)));
    QVERIFY(rel(full, direct_kl_top(student, teacher, kV)) < 1e-5);
    QVERIFY(full > 0);
    // KL(p‖p) = 0, and only the student gets a gradient.
    const at::Tensor t = teacher.clone().set_requires_grad(true);
    const at::Tensor s = teacher.clone().set_requires_grad(true);
    const at::Tensor zero = kl_full_loss_sum(s, t);
    QVERIFY(std::abs(zero.item<double>()) < 1e-5);
    zero.backward();
    QVERIFY(s.grad().defined());
    QVERIFY(!t.grad().defined());
  }

  void crossEntropyMatchesAten() {
    const at::Tensor student = random_logits(13, at::kDouble).set_requires_grad(true);
    at::Tensor labels = random_labels(2);
    labels[2] = -1;  // last position of a window: no label
    labels[6] = -1;
    const at::Tensor ours = cross_entropy_loss_sum(student, labels);
    ours.backward();
    const at::Tensor grad = student.grad().clone();
    student.mutable_grad().reset();

    const at::Tensor aten_labels = labels.masked_fill(labels < 0, -100);
    const at::Tensor theirs = at::cross_entropy_loss(student, aten_labels, {}, at::Reduction::Sum, -100);
    theirs.backward();
    QVERIFY2(rel(ours.item<double>(), theirs.item<double>()) < 1e-12,
             qPrintable(QString("%1 vs %2").arg(ours.item<double>()).arg(theirs.item<double>())));
    QVERIFY((grad - student.grad()).abs().max().item<double>() < 1e-12);
    QVERIFY(grad[2].abs().max().item<double>() == 0.0);  // ignored positions get no gradient
    // Ignoring positions is not the same as dropping nothing.
    QVERIFY(rel(cross_entropy_loss_sum(student, labels.clamp_min(0)).item<double>(), ours.item<double>()) > 1e-3);
    check_throws_invalid([&] { (void)cross_entropy_loss_sum(student, at::full({kP}, kV, at::kLong)); });
  }

  // The cache that replaces the teacher's [P, V] logits: [P, k] tensors with the true top-k.
  void teacherTopKIsCompact() {
    const at::Tensor teacher = random_logits(14, at::kBFloat16, 5, 300).set_requires_grad(true);
    const TeacherTopK top = teacher_topk(teacher, 20);
    QCOMPARE(top.index.sizes().vec(), (std::vector<int64_t>{5, 20}));
    QCOMPARE(top.logp.sizes().vec(), (std::vector<int64_t>{5, 20}));
    QCOMPARE(top.index.scalar_type(), at::kLong);
    QCOMPARE(top.logp.scalar_type(), at::kFloat);
    QVERIFY(!top.logp.requires_grad());
    const at::Tensor t = teacher.detach().to(at::kFloat);
    const at::Tensor chosen = t.gather(1, top.index);
    // Sorted by decreasing logit, and nothing outside beats the k-th.
    QVERIFY((chosen.slice(1, 0, 19) >= chosen.slice(1, 1, 20)).all().item<bool>());
    const at::Tensor outside = t.scatter(1, top.index, -INFINITY);
    QVERIFY((outside.amax(1) <= chosen.select(1, 19)).all().item<bool>());
    // Full-vocabulary log-softmax, not renormalised over I.
    QVERIFY((top.logp - at::log_softmax(t, 1).gather(1, top.index)).abs().max().item<double>() < 1e-6);
    QVERIFY((top.logp.exp().sum(1) < 1.0).all().item<bool>());
  }

  void lossKindNames() {
    for (LossKind kind : {LossKind::kKlTop, LossKind::kKl, LossKind::kCrossEntropy}) {
      const Result<LossKind> parsed = loss_kind_parse(loss_kind_name(kind));
      QVERIFY(parsed.is_ok());
      QVERIFY(parsed.value() == kind);
    }
    QCOMPARE(QString(loss_kind_name(LossKind::kKlTop)), QString("kl_top"));
    const Result<LossKind> bad = loss_kind_parse("mse");
    QVERIFY(!bad.is_ok());
    QCOMPARE(bad.status().code(), StatusCode::kInvalidInput);
  }

  void rejectsBadShapes() {
    const at::Tensor teacher = random_logits(15), student = random_logits(16);
    check_throws_invalid([&] { (void)teacher_topk(teacher, 0); });
    check_throws_invalid([&] { (void)teacher_topk(teacher.flatten(), 3); });
    check_throws_invalid([&] { (void)kl_top_loss_sum(student.slice(0, 0, 3), teacher_topk(teacher, 5)); });
    check_throws_invalid([&] { (void)kl_top_loss_sum(student.slice(1, 0, 4), teacher_topk(teacher, 5)); });
    check_throws_invalid([&] { (void)kl_full_loss_sum(student, teacher.slice(1, 0, 10)); });
    check_throws_invalid([&] { (void)cross_entropy_loss_sum(student, at::zeros({kP}, at::kInt)); });
  }
};

QTEST_GUILESS_MAIN(TestLosses)
#include "tst_losses.moc"
