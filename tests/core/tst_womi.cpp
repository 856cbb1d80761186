// SPDX-License-Identifier: Apache-2.0
// WOMI (OSTQUANT_SPEC.md §4) on stories260K and a synthetic GQA model with planted outliers.
// The covariances are recomputed here independently of core/calib/womi.cpp (stack every matrix,
// centre, unbiased covariance). Tolerances:
//   orthogonality            max |RᵀR − I| ≤ 1e-10 (R_res and every R_h)
//   §4 step 5 property       diag(Rᵀ C R) constant: max |diag − mean| / mean < 1e-8 (Hadamard
//   orders);
//                            negative control: identity or a plain random Hadamard > 1e-3
//   determinism              bit-identical for a seed; max |R(42) − R(43)| > 0.1
//   merged FP logits         max abs difference ≤ 1e-4 × max |logit| (fp32 model, fp64 merge)
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "core/calib/womi.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/hadamard.h"
#include "core/quant/transforms.h"
#include "test_data.h"

using namespace ostq;

namespace {

constexpr double kOrthoTol = 1e-10;
constexpr double kDiagTol = 1e-8;
constexpr double kControlMin = 1e-3;
constexpr double kLogitTol = 1e-4;

at::Tensor f64(const at::Tensor& t) { return t.to(torch::kDouble); }

double ortho_error(const at::Tensor& r) {
  return (torch::matmul(r.t(), r) - torch::eye(r.size(0), torch::kDouble))
      .abs()
      .max()
      .item<double>();
}

// Unbiased column covariance of x [rows, n], centred over the rows.
at::Tensor column_cov(const at::Tensor& x) {
  at::Tensor xc = x - x.mean(0, true);
  return torch::matmul(xc.t(), xc) / static_cast<double>(x.size(0) - 1);
}

// max |diag(RᵀCR) − mean| / mean.
double diag_deviation(const at::Tensor& r, const at::Tensor& c) {
  at::Tensor d = torch::matmul(torch::matmul(r.t(), c), r).diagonal();
  return ((d - d.mean()).abs().max() / d.mean()).item<double>();
}

// §4 R_res step 1: [W_q; W_k; W_v; W_up; W_gate] of all layers with the norm gains folded.
at::Tensor stacked_readers(const Model& m) {
  std::vector<at::Tensor> rows;
  for (const LayerWeights& l : m.weights.layers) {
    for (const at::Tensor& w : {l.wq, l.wk, l.wv}) rows.push_back(f64(w) * f64(l.attn_norm));
    for (const at::Tensor& w : {l.w_up, l.w_gate}) rows.push_back(f64(w) * f64(l.ffn_norm));
  }
  return torch::cat(rows, 0);
}

// o_proj columns of the query heads of KV head h as (d·g) × d_h.
at::Tensor o_group(const Model& m, int64_t layer, int64_t h) {
  const ModelConfig& c = m.config;
  const int64_t g = c.n_heads / c.n_kv_heads;
  return f64(m.weights.layers[layer].wo)
      .narrow(1, h * g * c.head_dim, g * c.head_dim)
      .reshape({-1, c.head_dim});
}

at::Tensor logits(const Model& m, const at::Tensor& tokens) {
  torch::NoGradGuard g;
  return model_forward(m, tokens);
}

std::shared_ptr<Model> synth_gqa() {
  SynthOptions o;
  o.dim = 96;          // 12·8: Hadamard order
  o.hidden_dim = 160;  // 20·8
  o.n_layers = 2;
  o.n_heads = 6;     // d_h = 16
  o.n_kv_heads = 2;  // g = 3
  o.vocab_size = 300;
  o.max_seq_len = 128;
  o.outliers = 3;  // gains ×32 on 3 channels: WOMI must see the folded weights
  return synth_model(o);
}

void check_residual(const Model& m, const char* label) {
  std::string note;
  const at::Tensor r = womi_residual_rotation(m, 42, &note);
  QCOMPARE(r.scalar_type(), torch::kDouble);
  QCOMPARE(r.sizes().vec(), std::vector<int64_t>({m.config.dim, m.config.dim}));
  const at::Tensor c = column_cov(stacked_readers(m));
  const double ortho = ortho_error(r), dev = diag_deviation(r, c);
  const double dev_identity = diag_deviation(torch::eye(m.config.dim, torch::kDouble), c);
  const double dev_hadamard = diag_deviation(random_hadamard(m.config.dim, 42).matrix, c);
  qInfo(
      "%s R_res: |RtR-I| %.2e, diag deviation WOMI %.2e, identity %.3f, random Hadamard %.3f  [%s]",
      label, ortho, dev, dev_identity, dev_hadamard, note.c_str());
  QVERIFY(ortho <= kOrthoTol);
  QVERIFY2(dev < kDiagTol,
           qPrintable(QString("%1: diag(RtCR) deviates by %2").arg(label).arg(dev)));
  QVERIFY(dev_identity > kControlMin);
  QVERIFY(dev_hadamard > kControlMin);
  QVERIFY(note.find("WOMI") != std::string::npos);
  QVERIFY(note.find("random Hadamard " + std::to_string(m.config.dim)) != std::string::npos);
}

void check_ov(const Model& m, const char* label) {
  const ModelConfig& c = m.config;
  double worst_ortho = 0, worst_dev = 0, min_control = 1e9;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const std::vector<at::Tensor> rs = womi_ov_rotations(m, li, 42);
    QCOMPARE(static_cast<int64_t>(rs.size()), c.n_kv_heads);
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      QCOMPARE(rs[h].sizes().vec(), std::vector<int64_t>({c.head_dim, c.head_dim}));
      const at::Tensor cov = column_cov(o_group(m, li, h));
      worst_ortho = std::max(worst_ortho, ortho_error(rs[h]));
      worst_dev = std::max(worst_dev, diag_deviation(rs[h], cov));
      min_control =
          std::min(min_control, diag_deviation(torch::eye(c.head_dim, torch::kDouble), cov));
    }
  }
  qInfo("%s R_ov: worst |RtR-I| %.2e, worst diag deviation %.2e, identity control (min) %.3f",
        label, worst_ortho, worst_dev, min_control);
  QVERIFY(worst_ortho <= kOrthoTol);
  QVERIFY2(worst_dev < kDiagTol,
           qPrintable(QString("%1: o_proj diag(RtCR) deviates by %2").arg(label).arg(worst_dev)));
  QVERIFY(min_control > kControlMin);
}

void check_merged_logits(const Model& m, bool qk_hadamard, const char* label) {
  const TransformSet t = transform_set_womi(m, 42, qk_hadamard);
  QVERIFY(t.ffn_rotation);
  QCOMPARE(t.qk_hadamard, qk_hadamard);
  QCOMPARE(static_cast<int64_t>(t.layers.size()), m.config.n_layers);
  QCOMPARE(t.notes.size(), size_t(2));
  QVERIFY(t.notes[0].rfind("R_res: WOMI", 0) == 0);
  QVERIFY(t.notes[1].rfind("R_ov: WOMI", 0) == 0);
  // The set's R_ov is exactly womi_ov_rotations, and R_res womi_residual_rotation.
  QVERIFY(torch::equal(t.r_res, womi_residual_rotation(m, 42)));
  QVERIFY(torch::equal(t.layers.back().r_ov.back(),
                       womi_ov_rotations(m, m.config.n_layers - 1, 42).back()));
  auto merged = merge_transforms(m, t);
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor tokens = torch::randint(3, m.config.vocab_size, {2, 40}, gen, torch::kLong);
  const at::Tensor ref = logits(m, tokens);
  const double d =
      (logits(*merged, tokens) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
  qInfo("%s merged WOMI set: rel max logit diff %.3g", label, d);
  QVERIFY2(d <= kLogitTol, qPrintable(QString("%1: logits changed by %2").arg(label).arg(d)));
}

}  // namespace

class TestWomi : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void stories260kResidualRotation() {
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY2(m.is_ok(), m.status().to_string().c_str());
    check_residual(*m.value(), "stories260K");
  }

  void stories260kOvRotations() {
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY(m.is_ok());
    check_ov(*m.value(), "stories260K");
  }

  void syntheticGqaRotations() {
    auto m = synth_gqa();
    check_residual(*m, "synthetic GQA");
    check_ov(*m, "synthetic GQA");
  }

  void deterministicPerSeed() {
    auto m = synth_gqa();
    const at::Tensor a = womi_residual_rotation(*m, 42), b = womi_residual_rotation(*m, 42);
    const at::Tensor other = womi_residual_rotation(*m, 43);
    QVERIFY(torch::equal(a, b));
    QVERIFY((a - other).abs().max().item<double>() > 0.1);
    const auto ov_a = womi_ov_rotations(*m, 1, 42), ov_b = womi_ov_rotations(*m, 1, 42);
    const auto ov_other = womi_ov_rotations(*m, 1, 43);
    for (size_t h = 0; h < ov_a.size(); ++h) {
      QVERIFY(torch::equal(ov_a[h], ov_b[h]));
      QVERIFY((ov_a[h] - ov_other[h]).abs().max().item<double>() > 0.1);
    }
    // Heads and layers get their own signs (the same covariance would otherwise give the same D).
    QVERIFY(!torch::equal(womi_ov_rotations(*m, 0, 42)[0], ov_a[0]));
  }

  void stories260kMergedLogitsUnchanged() {
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY(m.is_ok());
    check_merged_logits(*m.value(), true, "stories260K");
  }

  void syntheticGqaMergedLogitsUnchanged() {
    check_merged_logits(*synth_gqa(), true, "synthetic GQA");
  }

  void noHadamardOrderFallsBack() {
    // d = 42 and d_h = 14: no Hadamard matrix; D·H becomes a seeded random orthogonal matrix. The
    // rotation stays orthogonal and exact, but the diagonal is no longer constant.
    SynthOptions o;
    o.dim = 42;
    o.hidden_dim = 112;
    o.n_layers = 2;
    o.n_heads = 3;
    o.n_kv_heads = 3;
    o.vocab_size = 100;
    o.max_seq_len = 64;
    auto m = synth_model(o);
    QVERIFY(!hadamard_exists(42) && !hadamard_exists(14));
    std::string note;
    const at::Tensor r = womi_residual_rotation(*m, 7, &note);
    QVERIFY(ortho_error(r) <= kOrthoTol);
    QVERIFY2(note.find("random orthogonal 42") != std::string::npos, note.c_str());
    for (const at::Tensor& rh : womi_ov_rotations(*m, 0, 7)) QVERIFY(ortho_error(rh) <= kOrthoTol);
    const TransformSet t = transform_set_womi(*m, 7, false);
    QVERIFY(t.notes[1].find("random orthogonal 14") != std::string::npos);
    check_merged_logits(*m, false, "no-Hadamard synthetic");
  }

  void badInputsAreRejected() {
    auto m = synth_gqa();
    QVERIFY_EXCEPTION_THROWN(womi_ov_rotations(*m, 2, 42), StatusError);
    QVERIFY_EXCEPTION_THROWN(womi_ov_rotations(*m, -1, 42), StatusError);
    // A merged model (online H_ff) is not the original: WOMI refuses it.
    auto merged = merge_transforms(*m, transform_set_random_hadamard(m->config, 1, false));
    QVERIFY_EXCEPTION_THROWN(womi_residual_rotation(*merged, 42), StatusError);
  }
};

QTEST_GUILESS_MAIN(TestWomi)
#include "tst_womi.moc"
