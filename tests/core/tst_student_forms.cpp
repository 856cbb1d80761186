// SPDX-License-Identifier: Apache-2.0
// The activation-form student (trainable.h) against the references it replaces:
// - rotated_fake_quant vs the autograd composition (FQ_ste((a·R)⊘σ)⊙σ)·Rᵀ in fp64: values equal
//   (≤ 1e-12), gradients of a and σ equal, the rotation's gradient equal in its tangent component
//   (≤ 1e-9 relative), for asymmetric / symmetric / absmax specs, a clip that clamps many values,
//   and rows whose maximum is tied;
// - the two student forms give the same loss and the same tangent gradients on a synthetic GQA
//   model with biases (dense H_ff fallback) and on stories260K at 4-4-4 with H_dh (fp32; tolerances
//   ≤ 1e-2 for the loss, ≤ 5e-2 for the gradients (a flipped code), measured values printed);
// - the inverse Hadamard transform undoes the forward one for a non-symmetric base (order 172).
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "core/calib/losses.h"
#include "core/calib/optimizers.h"
#include "core/calib/rotated_fake_quant.h"
#include "core/calib/trainable.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/hadamard.h"
#include "core/quant/quant_config.h"
#include "core/util/file_util.h"
#include "learn_fixtures.h"
#include "test_data.h"

using namespace ostq;
using ostq_test::gqa_with_biases;
using ostq_test::random_init;

namespace {

double rel_err(const at::Tensor& got, const at::Tensor& want) {
  const double scale = std::max(want.abs().max().item<double>(), 1e-30);
  return (got - want).abs().max().item<double>() / scale;
}

struct Grads {
  at::Tensor v, a, r, sigma;
};

// v and the gradients of L = Σ c⊙v + ½Σ v² (dv depends on v) for one implementation.
template <typename Fn>
Grads run(Fn fn, const at::Tensor& a0, const at::Tensor& r0, const at::Tensor& s0, const at::Tensor& c) {
  at::Tensor a = a0.clone().requires_grad_(true), r = r0.clone().requires_grad_(true);
  at::Tensor s = s0.clone().requires_grad_(true);
  at::Tensor v = fn(a, r, s);
  ((c * v).sum() + 0.5 * v.square().sum()).backward();
  return {v.detach(), a.grad(), r.grad(), s.grad()};
}

struct FormRun {
  double loss = 0;
  std::vector<at::Tensor> rotation_grads, scale_grads;  // rotations: tangent components
};

FormRun run_form(const Model& m, const TransformSet& init, const QuantConfig& q, StudentForm form,
                 const at::Tensor& tokens) {
  TrainableSpec spec;
  spec.form = form;
  spec.quantizers = q;
  TrainableTransforms tt(m, init, spec);
  const int64_t d = m.config.dim;
  TeacherTopK teacher = teacher_topk(tt.teacher_logits(tt.teacher_hidden(tokens).view({-1, d})), 1000);
  at::Tensor loss = kl_top_loss_sum(tt.student_logits(tt.student_hidden(tokens).view({-1, d})), teacher);
  loss.backward();
  project_rotation_gradients(tt.rotations());
  FormRun out;
  out.loss = loss.item<double>();
  for (const at::Tensor& r : tt.rotations()) out.rotation_grads.push_back(r.grad().clone());
  for (const at::Tensor& s : tt.scales()) out.scale_grads.push_back(s.grad().clone());
  return out;
}

// Relative difference of two lists of gradients, measured against the largest gradient of the list.
double list_rel_err(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want) {
  double scale = 1e-30, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, want[i].abs().max().item<double>());
    diff = std::max(diff, (got[i] - want[i]).abs().max().item<double>());
  }
  return diff / scale;
}

}  // namespace

class TestStudentForms : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void rotatedFakeQuantMatchesTheReference_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("symmetric");
    QTest::addColumn<bool>("absmax");
    QTest::addColumn<double>("clip");
    QTest::newRow("A4 asym") << 4 << false << false << 1.0;
    QTest::newRow("A4 asym clip 0.8 (many clamped)") << 4 << false << false << 0.8;
    QTest::newRow("A4 sym") << 4 << true << false << 1.0;
    QTest::newRow("A8 sym absmax clip 0.9") << 8 << true << true << 0.9;
  }
  void rotatedFakeQuantMatchesTheReference() {
    QFETCH(int, bits);
    QFETCH(bool, symmetric);
    QFETCH(bool, absmax);
    QFETCH(double, clip);
    ActQuantSpec spec;
    spec.bits = bits;
    spec.symmetric = symmetric;
    spec.sym_scale = absmax ? SymmetricScale::kAbsMax : SymmetricScale::kSpec;
    spec.clip_ratio = clip;
    at::Generator gen = at::detail::createCPUGenerator(7);
    const int64_t P = 96, d = 32;
    // Channel scales up to ×8 (outliers), a random orthogonal R and positive σ; fp64 throughout.
    at::Tensor a = torch::randn({P, d}, gen, torch::kDouble) * torch::exp(torch::rand({d}, gen, torch::kDouble) * 2.0);
    at::Tensor r = random_orthogonal(d, 3);
    at::Tensor sigma = torch::exp(0.3 * torch::randn({d}, gen, torch::kDouble));
    at::Tensor c = torch::randn({P, d}, gen, torch::kDouble);
    const Grads fast = run([&](auto& x, auto& y, auto& z) { return rotated_fake_quant(x, y, z, spec); }, a, r, sigma, c);
    const Grads ref =
        run([&](auto& x, auto& y, auto& z) { return rotated_fake_quant_reference(x, y, z, spec); }, a, r, sigma, c);
    const double dv = rel_err(fast.v, ref.v), da = rel_err(fast.a, ref.a), ds = rel_err(fast.sigma, ref.sigma);
    const double dr = rel_err(tangent_component(r, fast.r), tangent_component(r, ref.r));
    qInfo("v %.1e, da %.1e, dsigma %.1e, tangent dR %.1e", dv, da, ds, dr);
    QVERIFY(dv <= 1e-12);
    QVERIFY(da <= 1e-9);
    QVERIFY(ds <= 1e-9);
    QVERIFY(dr <= 1e-9);
    // The dropped part is normal: the full Euclidean gradients differ (this is not a tautology).
    QVERIFY(rel_err(fast.r, ref.r) > 1e-3);
  }

  void tiedRowMaximaSplitTheScaleGradient() {
    // R = I and two equal maxima per row: the reference's amax gives each half the gradient.
    ActQuantSpec spec;
    spec.bits = 4;
    at::Generator gen = at::detail::createCPUGenerator(2);
    at::Tensor a = torch::randn({8, 16}, gen, torch::kDouble);
    a.select(1, 3).fill_(5.0);
    a.select(1, 11).fill_(5.0);
    at::Tensor r = torch::eye(16, torch::kDouble), sigma = torch::ones({16}, torch::kDouble);
    at::Tensor c = torch::randn({8, 16}, gen, torch::kDouble);
    const Grads fast = run([&](auto& x, auto& y, auto& z) { return rotated_fake_quant(x, y, z, spec); }, a, r, sigma, c);
    const Grads ref =
        run([&](auto& x, auto& y, auto& z) { return rotated_fake_quant_reference(x, y, z, spec); }, a, r, sigma, c);
    QVERIFY(rel_err(fast.a, ref.a) <= 1e-12);
    QVERIFY(rel_err(fast.sigma, ref.sigma) <= 1e-12);
  }

  void inverseHadamardUndoesTheTransform() {
    at::Generator gen = at::detail::createCPUGenerator(4);
    for (int64_t n : {172, 64, 176}) {
      if (!hadamard_exists(n)) continue;
      at::Tensor x = torch::randn({5, n}, gen, torch::kDouble);
      const at::Tensor h = hadamard_matrix(n) / std::sqrt(static_cast<double>(n));
      QVERIFY(rel_err(hadamard_transform_inverse(x), x.matmul(h.t())) <= 1e-12);
      QVERIFY(rel_err(hadamard_transform_inverse(hadamard_transform(x)), x) <= 1e-12);
      at::Tensor xg = x.clone().requires_grad_(true);  // the autograd path of training
      QVERIFY(rel_err(hadamard_transform_inverse(xg).detach(), x.matmul(h.t())) <= 1e-12);
    }
  }

  void theTwoStudentFormsAgree() {
    std::vector<std::pair<std::string, std::shared_ptr<Model>>> models = {{"synthetic GQA", gqa_with_biases()}};
    const std::string path = ostq_test::shared_path("models/stories260K.bin");
    if (file_exists(path)) models.emplace_back("stories260K", model_load(path).value());
    for (const auto& [name, m] : models) {
      const TransformSet init = random_init(m->config, 5);
      at::Generator gen = at::detail::createCPUGenerator(9);
      const at::Tensor tokens = torch::randint(3, m->config.vocab_size, {2, 48}, gen, torch::kLong);
      for (const char* bits : {"16-4-16", "4-4-4"}) {
        const QuantConfig q = quant_config_parse(bits, m->config.head_dim).value();
        const FormRun w = run_form(*m, init, q, StudentForm::kWeights, tokens);
        const FormRun a = run_form(*m, init, q, StudentForm::kActivations, tokens);
        const double dl = std::abs(a.loss - w.loss) / w.loss;
        const double dr = list_rel_err(a.rotation_grads, w.rotation_grads);
        const double ds = list_rel_err(a.scale_grads, w.scale_grads);
        qInfo("%s %s: loss %.6f vs %.6f (rel %.1e), tangent rotation grads %.1e, scale grads %.1e", name.c_str(), bits,
              a.loss, w.loss, dl, dr, ds);
        // fp32: the forms round differently (the quantizer inputs differ by ~1e-7 relative), and a
        // code that flips moves the loss and some gradients by a step's worth: measured ≤ 1.2e-5
        // without a flip, 9.5e-4 (loss) and 3.4e-3 (gradients) with one (stories260K, 16-4-16). A
        // wrong formula differs at O(1).
        QVERIFY(dl <= 1e-2);
        QVERIFY(dr <= 5e-2);
        QVERIFY(ds <= 5e-2);
      }
    }
  }
};

QTEST_GUILESS_MAIN(TestStudentForms)
#include "tst_student_forms.moc"
