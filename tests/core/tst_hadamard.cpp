// SPDX-License-Identifier: Apache-2.0
// Hadamard library (OSTQUANT_SPEC.md §10, §3.3): H Hᵀ = n·I for every order ≤ 16384 the plan
// accepts, the fast transform against the dense product, the fold/online cancellation, the
// autograd path, random Hadamard / orthogonal determinism, and unsupported orders.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "core/quant/hadamard.h"
#include "core/quant/hadamard_build.h"
#include "core/util/status.h"

using namespace ostq;

namespace {

constexpr int64_t kMaxChecked = 16384;
constexpr int64_t kDenseLimit = 512;  // full n³ Gram check up to this order (and for bases)

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() / b.to(at::kDouble).norm().item<double>();
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

bool is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

at::Tensor randn(at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(dtype));
}

// ±1 entries and H Hᵀ == n·I exactly (integer arithmetic in fp64 is exact at these sizes).
void check_dense_hadamard(const at::Tensor& h, int64_t n, const char* what) {
  QCOMPARE(h.size(0), n);
  QVERIFY2(h.abs().eq(1).all().item<bool>(), what);
  const at::Tensor gram = at::matmul(h, h.t());
  QVERIFY2(gram.equal(at::eye(n, at::kDouble) * static_cast<double>(n)), what);
}

// Freivalds' check of A Aᵀ == K·I for a big ±1 base [K, K] in exact integer arithmetic: a wrong
// Gram matrix survives 4 random integer rows with probability below 1e-12.
bool base_passes_freivalds(const std::vector<int8_t>& a, int64_t K) {
  std::mt19937_64 rng(static_cast<uint64_t>(K));
  std::uniform_int_distribution<int64_t> dist(-1000, 1000);
  std::vector<int64_t> x(K), y(K);
  for (int trial = 0; trial < 4; ++trial) {
    for (int64_t& v : x) v = dist(rng);
    std::fill(y.begin(), y.end(), 0);
    for (int64_t k = 0; k < K; ++k)  // y = x A
      for (int64_t j = 0; j < K; ++j) y[j] += x[k] * a[k * K + j];
    for (int64_t i = 0; i < K; ++i) {  // (y Aᵀ)_i = Σ_j y_j A[i, j] must be K·x_i
      int64_t s = 0;
      for (int64_t j = 0; j < K; ++j) s += y[j] * a[i * K + j];
      if (s != K * x[i]) return false;
    }
  }
  return true;
}

}  // namespace

class TestHadamard : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void plansForNeededOrders();
  void rejectsImpossibleOrders();
  void everyBaseIsHadamard();
  void everyAcceptedOrderIsOrthogonal();
  void fastMatchesDense_data();
  void fastMatchesDense();
  void leadingShapesAndLayouts();
  void roundTripWithTranspose();
  void onlineOpAndFoldCancel();
  void gradientPathMatchesDense();
  void acceleratorPathMatchesDense();
  void randomHadamard();
  void randomOrthogonal();
  void unsupportedOrders();
};

void TestHadamard::plansForNeededOrders() {
  struct Want {
    int64_t n, base, pow2;
  };
  // §10: every width the LLaMA family needs, with the factorisation the plan must pick.
  const Want wants[] = {{8, 1, 8},         {48, 12, 4},       {64, 1, 64},       {128, 1, 128},
                        {156, 156, 1},     {172, 172, 1},     {288, 36, 8},      {768, 12, 64},
                        {1376, 172, 8},    {2048, 1, 2048},   {4096, 1, 4096},   {5120, 20, 256},
                        {6656, 52, 128},   {11008, 172, 64},  {13824, 108, 128}, {14336, 28, 512},
                        {17920, 140, 128}, {28672, 28, 1024}, {18944, 148, 128}, {29568, 924, 32}};
  for (const Want& w : wants) {
    HadamardPlan plan;
    QVERIFY2(hadamard_plan(w.n, &plan), qPrintable(QString::number(w.n)));
    QCOMPARE(plan.n, w.n);
    QCOMPARE(plan.base, w.base);
    QCOMPARE(plan.pow2, w.pow2);
  }
  HadamardPlan plan;
  QVERIFY(hadamard_plan(172, &plan));
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("table(172)"));
  QVERIFY(hadamard_plan(11008, &plan));
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("table(172) x sylvester(64)"));
  QVERIFY(hadamard_plan(44, &plan));
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("paley1(43)"));
  QVERIFY(hadamard_plan(76, &plan));
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("paley2(37)"));
  QVERIFY(hadamard_plan(100, &plan));  // q = 49: needs GF(7²)
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("paley2(49)"));
  QVERIFY(hadamard_plan(244, &plan));  // q = 243 = 3⁵
  QCOMPARE(QString::fromStdString(plan.construction), QStringLiteral("paley1(243)"));
  QVERIFY(hadamard_plan(1, &plan) && hadamard_plan(2, &plan));
}

void TestHadamard::rejectsImpossibleOrders() {
  // Hadamard matrices exist only for 1, 2 and multiples of 4.
  for (int64_t n = -4; n <= 2000; ++n)
    if (n < 1 || (n > 2 && n % 4 != 0)) QVERIFY2(!hadamard_exists(n), qPrintable(QString::number(n)));
}

void TestHadamard::everyBaseIsHadamard() {
  std::set<int64_t> bases;
  for (int64_t n = 4; n <= kMaxChecked; n += 4) {
    HadamardPlan plan;
    if (hadamard_plan(n, &plan) && plan.base > 1) bases.insert(plan.base);
  }
  for (const ostq::detail::HadamardTableText* t = ostq::detail::kHadamardTables;
       t != ostq::detail::kHadamardTables + ostq::detail::kHadamardTableCount; ++t)
    bases.insert(t->order);
  QVERIFY(bases.count(156) && bases.count(172));
  for (int64_t K : bases) {
    std::vector<int8_t> a8 = ostq::detail::hadamard_base_build(K);
    QCOMPARE(static_cast<int64_t>(a8.size()), K * K);
    const QByteArray tag = "base " + QByteArray::number(static_cast<qlonglong>(K));
    if (K <= kDenseLimit) {
      check_dense_hadamard(at::from_blob(a8.data(), {K, K}, at::kChar).to(at::kDouble), K, tag.constData());
    } else {
      QVERIFY2(std::all_of(a8.begin(), a8.end(), [](int8_t v) { return v == 1 || v == -1; }), tag.constData());
      QVERIFY2(base_passes_freivalds(a8, K), tag.constData());
    }
  }
  qInfo("checked %zu distinct bases", bases.size());
}

void TestHadamard::everyAcceptedOrderIsOrthogonal() {
  std::vector<int64_t> orders = {1, 2};
  for (int64_t n = 4; n <= kMaxChecked; n += 4) orders.push_back(n);
  orders.push_back(17920);
  orders.push_back(28672);
  // Grouped by base so each base is built once even when the library's cache cycles.
  std::vector<HadamardPlan> plans;
  for (int64_t n : orders) {
    HadamardPlan plan;
    if (hadamard_plan(n, &plan)) plans.push_back(plan);
  }
  std::stable_sort(plans.begin(), plans.end(),
                   [](const HadamardPlan& a, const HadamardPlan& b) { return a.base < b.base; });
  for (const HadamardPlan& plan : plans) {
    const int64_t n = plan.n;
    const QByteArray tag = QByteArray::number(static_cast<qlonglong>(n));
    QCOMPARE(plan.base * plan.pow2, n);
    QVERIFY2(is_pow2(plan.pow2), tag.constData());
    if (n <= kDenseLimit || (is_pow2(n) && n <= 2048)) {
      check_dense_hadamard(hadamard_matrix(n), n, tag.constData());
      continue;
    }
    // Big orders through the fast transform, one call: the Gram matrix of two random rows is
    // preserved (M Mᵀ = I on their span) and two unit rows land on ±1/√n (H has ±1 entries).
    at::Tensor x = at::zeros({4, n}, at::kDouble);
    x.narrow(0, 0, 2).copy_(randn({2, n}, static_cast<uint64_t>(n), at::kDouble));
    x[2][0] = 1.0;
    x[3][n - 1] = 1.0;
    const at::Tensor y = hadamard_transform(x);
    const at::Tensor xr = x.narrow(0, 0, 2), yr = y.narrow(0, 0, 2);
    QVERIFY2(rel_err(at::matmul(yr, yr.t()), at::matmul(xr, xr.t())) < 1e-12, tag.constData());
    const at::Tensor he = y.narrow(0, 2, 2) * std::sqrt(static_cast<double>(n));
    QVERIFY2(max_abs(he.abs() - 1.0) < 1e-12, tag.constData());
  }
  qInfo("%zu orders accepted up to %lld (+17920, 28672)", plans.size(), static_cast<long long>(kMaxChecked));
  QVERIFY(plans.size() > 800);
}

void TestHadamard::fastMatchesDense_data() {
  QTest::addColumn<qlonglong>("n");
  // Covers every mixing path of the kernel: P = 1, 2, 4, 8, 16, 32, 64+ and pure Sylvester.
  for (qlonglong n : {1LL, 2LL, 8LL, 12LL, 24LL, 48LL, 96LL, 192LL, 384LL, 768LL, 172LL, 1376LL, 4096LL, 11008LL})
    QTest::newRow(QByteArray::number(n).constData()) << n;
}

void TestHadamard::fastMatchesDense() {
  QFETCH(qlonglong, n);
  const at::Tensor x = randn({5, n}, 7, at::kDouble);
  const at::Tensor want = hadamard_transform_dense(x);
  const at::Tensor got32 = hadamard_transform(x.to(at::kFloat)), got64 = hadamard_transform(x);
  QVERIFY(got32.scalar_type() == at::kFloat && got64.scalar_type() == at::kDouble);
  QVERIFY(rel_err(got32, want) < 1e-5);
  QVERIFY(rel_err(got64, want) < 1e-12);
}

void TestHadamard::leadingShapesAndLayouts() {
  for (int64_t n : {8, 12, 172, 768, 1376, 11008}) {
    const at::Tensor x = randn({3, 5, n}, 11, at::kDouble);
    const at::Tensor want = hadamard_transform_dense(x);
    const at::Tensor y = hadamard_transform(x.to(at::kFloat));
    QVERIFY(y.sizes() == x.sizes() && want.sizes() == x.sizes());
    QVERIFY(rel_err(y, want) < 1e-5);
    QVERIFY(rel_err(hadamard_transform(x), want) < 1e-12);
  }
  // A non-contiguous view, a 1-D vector and fp16 / bf16 inputs (computed in fp32).
  const at::Tensor w = randn({768, 6}, 12).t();
  QVERIFY(!w.is_contiguous());
  QVERIFY(rel_err(hadamard_transform(w), hadamard_transform_dense(w)) < 1e-5);
  const at::Tensor v = randn({172}, 13);
  QVERIFY(rel_err(hadamard_transform(v), hadamard_transform_dense(v)) < 1e-5);
  const at::Tensor h = randn({4, 768}, 14).to(at::kHalf);
  QVERIFY(hadamard_transform(h).scalar_type() == at::kHalf);
  QVERIFY(rel_err(hadamard_transform(h), hadamard_transform_dense(h.to(at::kFloat))) < 2e-3);
  QVERIFY(rel_err(hadamard_transform(h.to(at::kBFloat16)), hadamard_transform_dense(h.to(at::kFloat))) < 1e-2);
  // In place: the kernel on contiguous fp32/fp64 storage, the functional form otherwise.
  for (at::Tensor t : {randn({3, 1376}, 15), randn({3, 1376}, 15, at::kDouble), randn({1376, 3}, 15).t(),
                       randn({3, 1376}, 15).to(at::kHalf)}) {
    const at::Tensor want = hadamard_transform(t);
    at::Tensor same = t;
    QVERIFY(&hadamard_transform_(t) == &t);
    QVERIFY(t.equal(want) && same.equal(want));
  }
  // The input is never modified.
  const at::Tensor keep = v.clone();
  (void)hadamard_transform(v);
  QVERIFY(v.equal(keep));
}

void TestHadamard::roundTripWithTranspose() {
  for (int64_t n : {12, 172, 768, 1376}) {
    const at::Tensor x = randn({4, n}, 21, at::kDouble);
    const at::Tensor m = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
    QVERIFY(rel_err(at::matmul(hadamard_transform(x), m.t()), x) < 1e-12);
  }
}

void TestHadamard::onlineOpAndFoldCancel() {
  // §3.3: z ← z·M online and W_down ← W_down·M folded with the same routine: (zM)(WM)ᵀ = zWᵀ.
  for (int64_t dff : {172, 768, 11008}) {
    const at::Tensor z = randn({6, dff}, 31);
    const at::Tensor w = randn({16, dff}, 32);
    const at::Tensor got = at::matmul(hadamard_transform(z), hadamard_transform(w).t());
    QVERIFY2(rel_err(got, at::matmul(z, w.t())) < 1e-5, qPrintable(QString::number(dff)));
  }
}

void TestHadamard::gradientPathMatchesDense() {
  for (int64_t n : {172, 768}) {
    const at::Tensor x = randn({3, n}, 41, at::kDouble).requires_grad_(true);
    const at::Tensor w = randn({3, n}, 42, at::kDouble);
    const at::Tensor y = hadamard_transform(x);
    QVERIFY(y.requires_grad());
    QVERIFY(rel_err(y.detach(), hadamard_transform_dense(x.detach())) < 1e-12);
    (y * w).sum().backward();
    const at::Tensor m = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
    QVERIFY(rel_err(x.grad(), at::matmul(w, m.t())) < 1e-12);  // d(sum(w ⊙ xM))/dx = w Mᵀ
    const at::Tensor x2 = x.detach().clone().requires_grad_(true);
    const at::Tensor y2 = hadamard_transform_inverse(x2);
    QVERIFY(rel_err(y2.detach(), at::matmul(x.detach(), m.t())) < 1e-12);
    (y2 * w).sum().backward();
    QVERIFY(rel_err(x2.grad(), at::matmul(w, m)) < 1e-12);  // d(sum(w ⊙ xMᵀ))/dx = w M
  }
  const at::Tensor empty = at::zeros({0, 172}, at::kDouble).requires_grad_(true);
  QVERIFY(hadamard_transform(empty).sizes() == empty.sizes());
  QVERIFY(hadamard_transform(empty.detach()).sizes() == empty.sizes());
  // Under NoGradGuard a requires_grad tensor takes the fast kernel and gives the same result.
  torch::NoGradGuard no_grad;
  const at::Tensor x = randn({2, 1376}, 43).requires_grad_(true);
  QVERIFY(rel_err(hadamard_transform(x), hadamard_transform_dense(x)) < 1e-5);
}

// The torch-op composition every non-CPU tensor takes (CUDA never reaches the CPU kernel), run here on
// the CPU: forward and inverse against the dense product, every kernel mixing path, leading shapes,
// fp16 in fp32, and its autograd gradient (the transposed transform).
void TestHadamard::acceleratorPathMatchesDense() {
  for (int64_t n : {1, 2, 8, 12, 24, 172, 768, 1376, 4096}) {
    const at::Tensor x = randn({2, 3, n}, 51, at::kDouble);
    const at::Tensor m = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
    const at::Tensor fwd = ostq::detail::hadamard_transform_torch_ops(x, /*inverse=*/false);
    const at::Tensor inv = ostq::detail::hadamard_transform_torch_ops(x, /*inverse=*/true);
    QVERIFY(fwd.sizes() == x.sizes() && fwd.scalar_type() == at::kDouble);
    QVERIFY2(rel_err(fwd, at::matmul(x, m)) < 1e-12, qPrintable(QString::number(n)));
    QVERIFY2(rel_err(inv, at::matmul(x, m.t())) < 1e-12, qPrintable(QString::number(n)));
    QVERIFY(rel_err(ostq::detail::hadamard_transform_torch_ops(x.to(at::kFloat), false), fwd) < 1e-5);
    const at::Tensor h = x.to(at::kHalf);
    QVERIFY(ostq::detail::hadamard_transform_torch_ops(h, true).scalar_type() == at::kHalf);
    QVERIFY(rel_err(ostq::detail::hadamard_transform_torch_ops(h, true), hadamard_transform_inverse(h.to(at::kFloat))) < 2e-3);
  }
  for (int64_t n : {172, 768}) {
    const at::Tensor m = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
    const at::Tensor w = randn({3, n}, 53, at::kDouble);
    for (bool inverse : {false, true}) {
      const at::Tensor x = randn({3, n}, 52, at::kDouble).requires_grad_(true);
      const at::Tensor y = ostq::detail::hadamard_transform_torch_ops(x, inverse);
      QVERIFY(y.requires_grad());
      (y * w).sum().backward();
      QVERIFY(rel_err(x.grad(), at::matmul(w, inverse ? m : m.t())) < 1e-12);
    }
  }
  QVERIFY(ostq::detail::hadamard_transform_torch_ops(at::zeros({0, 172}), false).sizes() == at::IntArrayRef({0, 172}));
  QVERIFY_THROWS_EXCEPTION(StatusError, ostq::detail::hadamard_transform_torch_ops(at::zeros({2, 7}), false));
}

void TestHadamard::randomHadamard() {
  for (int64_t n : {64, 172, 768}) {
    const OrthogonalMatrix a = random_hadamard(n, 42);
    QVERIFY(a.is_hadamard);
    QVERIFY(a.matrix.scalar_type() == at::kDouble);
    QVERIFY(max_abs(at::matmul(a.matrix, a.matrix.t()) - at::eye(n, at::kDouble)) < 1e-12);
    const double root_n = std::sqrt(static_cast<double>(n));
    QVERIFY(max_abs(a.matrix.abs() * root_n - 1.0) < 1e-12);
    // diag(±1)·H/√n: each row is ± the same row of H.
    const at::Tensor ratio = a.matrix * root_n / hadamard_matrix(n);
    QVERIFY(ratio.eq(ratio.select(1, 0).unsqueeze(1)).all().item<bool>());
    QVERIFY(ratio.eq(-1).any().item<bool>() && ratio.eq(1).any().item<bool>());
    QVERIFY(a.matrix.equal(random_hadamard(n, 42).matrix));
    QVERIFY(!a.matrix.equal(random_hadamard(n, 43).matrix));
    QVERIFY(QString::fromStdString(a.description).contains(QStringLiteral("random Hadamard %1").arg(n)));
    QVERIFY(QString::fromStdString(a.description).contains(QStringLiteral("seed 42")));
  }
  QVERIFY(QString::fromStdString(random_hadamard(172, 1).description).contains(QStringLiteral("table(172)")));
}

void TestHadamard::randomOrthogonal() {
  for (int64_t n : {1, 7, 64, 92}) {
    const at::Tensor q = random_orthogonal(n, 5);
    QVERIFY(q.scalar_type() == at::kDouble);
    QCOMPARE(q.size(0), n);
    QVERIFY(max_abs(at::matmul(q, q.t()) - at::eye(n, at::kDouble)) < 1e-12);
    QVERIFY(q.equal(random_orthogonal(n, 5)));
    if (n > 1) QVERIFY(!q.equal(random_orthogonal(n, 6)));
  }
}

void TestHadamard::unsupportedOrders() {
  for (int64_t n : {0, 6, 7, 92, 13696}) {
    QVERIFY(!hadamard_exists(n));
    try {
      (void)hadamard_matrix(n);
      QFAIL("hadamard_matrix accepted an unsupported order");
    } catch (const StatusError& e) {
      QVERIFY(e.status().code() == StatusCode::kUnsupported);
    }
  }
  try {
    (void)hadamard_transform(at::ones({2, 6}));
    QFAIL("hadamard_transform accepted an unsupported order");
  } catch (const StatusError& e) {
    QVERIFY(e.status().code() == StatusCode::kUnsupported);
  }
  QVERIFY_THROWS_EXCEPTION(StatusError, hadamard_transform(at::ones({2, 8}, at::kLong)));
  for (int64_t n : {6, 92}) {
    const OrthogonalMatrix r = random_hadamard(n, 3);
    QVERIFY(!r.is_hadamard);
    QVERIFY(QString::fromStdString(r.description).contains(QStringLiteral("no Hadamard of order %1").arg(n)));
    QVERIFY(max_abs(at::matmul(r.matrix, r.matrix.t()) - at::eye(n, at::kDouble)) < 1e-12);
  }
}

QTEST_GUILESS_MAIN(TestHadamard)
#include "tst_hadamard.moc"
