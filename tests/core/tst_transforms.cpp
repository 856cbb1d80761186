// SPDX-License-Identifier: Apache-2.0
// Exact-mode transforms (OSTQUANT_SPEC.md §3, §15.1): with quantizers off, every transform alone
// and all together — random non-trivial scales and rotations — leaves the logits unchanged, on
// the real stories260K and on a synthetic GQA model with q/k/v biases. Tolerance: max abs logit
// difference ≤ 1e-4 × max |logit| (fp32 model, fp64 merge).
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <functional>

#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/quant/hadamard.h"
#include "core/quant/transforms.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "test_data.h"

using namespace ostq;

namespace {

constexpr double kRelTol = 1e-4;

at::Tensor tokens_for(const ModelConfig& c, int64_t b, int64_t t, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randint(3, c.vocab_size, {b, t}, gen, torch::kLong);
}

at::Tensor logits(const Model& m, const at::Tensor& tokens) {
  torch::NoGradGuard g;
  return model_forward(m, tokens);
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

// Scales exp(0.5·N(0,1)): spread over about ×/÷ 3, positive, fp64.
at::Tensor random_scale(int64_t n, at::Generator& gen) {
  return torch::exp(0.5 * torch::randn({n}, gen, torch::kDouble));
}

using Builder = std::function<void(const ModelConfig&, TransformSet&, at::Generator&)>;

struct Case {
  const char* name;
  Builder build;
};

std::vector<Case> cases() {
  auto per_layer = [](auto fn) {
    return [fn](const ModelConfig& c, TransformSet& t, at::Generator& g) {
      for (LayerTransforms& l : t.layers) fn(c, l, g);
    };
  };
  std::vector<Case> v = {
      {"norm folding only", [](const ModelConfig&, TransformSet&, at::Generator&) {}},
      {"R_res random orthogonal",
       [](const ModelConfig& c, TransformSet& t, at::Generator&) { t.r_res = random_orthogonal(c.dim, 7); }},
      {"R_res random Hadamard",
       [](const ModelConfig& c, TransformSet& t, at::Generator&) { t.r_res = random_hadamard(c.dim, 7).matrix; }},
      {"R_ov per KV head", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) {
         for (int64_t h = 0; h < c.n_kv_heads; ++h) {
           l.r_ov.push_back(random_orthogonal(c.head_dim, static_cast<uint64_t>(g.current_seed() + h)));
         }
       })},
      {"S_attn", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) { l.s_attn = random_scale(c.dim, g); })},
      {"S_ffn", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) { l.s_ffn = random_scale(c.dim, g); })},
      {"S_ov", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) { l.s_ov = random_scale(c.kv_dim(), g); })},
      {"S_qk tied", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) {
         l.s_qk = random_scale(c.kv_dim() / 2, g);
       })},
      {"S_up_down", per_layer([](const ModelConfig& c, LayerTransforms& l, at::Generator& g) {
         l.s_up_down = random_scale(c.hidden_dim, g);
       })},
      {"H_ff online", [](const ModelConfig&, TransformSet& t, at::Generator&) { t.ffn_rotation = true; }},
      {"H_dh online", [](const ModelConfig&, TransformSet& t, at::Generator&) { t.qk_hadamard = true; }},
  };
  std::vector<Case> all_cases = v;
  all_cases.push_back({"all together", [v](const ModelConfig& c, TransformSet& t, at::Generator& g) {
                         for (size_t i = 1; i < v.size(); ++i) {
                           if (std::string(v[i].name) != "R_res random Hadamard") v[i].build(c, t, g);
                         }
                       }});
  all_cases.push_back({"S_up_down + H_ff (fold after the scale)", [v](const ModelConfig& c, TransformSet& t, at::Generator& g) {
                         for (const Case& k : v) {
                           if (std::string(k.name) == "S_up_down" || std::string(k.name) == "H_ff online") k.build(c, t, g);
                         }
                       }});
  return all_cases;
}

void check_all_cases(const Model& model, const char* label) {
  const at::Tensor tokens = tokens_for(model.config, 2, 48, 5);
  const at::Tensor reference = logits(model, tokens);
  for (const Case& k : cases()) {
    TransformSet t = transform_set_identity(model.config);
    at::Generator gen = at::detail::createCPUGenerator(11);
    k.build(model.config, t, gen);
    std::shared_ptr<Model> merged = merge_transforms(model, t);
    const double d = rel_diff(logits(*merged, tokens), reference);
    qInfo("%s  %-40s rel max diff %.3g", label, k.name, d);
    QVERIFY2(d < kRelTol, qPrintable(QString("%1: %2 changed the logits by %3").arg(label, k.name).arg(d)));
  }
}

}  // namespace

class TestTransforms : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void stories260kInvariant() {
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY2(m.is_ok(), m.status().to_string().c_str());
    check_all_cases(*m.value(), "stories260K");
  }

  void syntheticGqaWithBiasesInvariant() {
    SynthOptions o;
    o.arch = Architecture::kQwen2;
    o.dim = 96;
    o.hidden_dim = 160;  // 20·8: H_ff takes the Kronecker path
    o.n_layers = 2;
    o.n_heads = 6;
    o.n_kv_heads = 2;
    o.vocab_size = 300;
    o.max_seq_len = 128;
    o.qkv_bias = true;
    o.outliers = 3;
    check_all_cases(*synth_model(o), "synthetic qwen2 GQA+bias");
  }

  void noHadamardFallsBackToDenseRotation() {
    // d_ff = 98 is not a multiple of 4: no Hadamard matrix exists: H_ff becomes a seeded random orthogonal matrix.
    SynthOptions o;
    o.dim = 32;
    o.hidden_dim = 98;
    o.n_layers = 1;
    o.n_heads = 4;
    o.vocab_size = 64;
    o.max_seq_len = 32;
    auto model = synth_model(o);
    QVERIFY(!hadamard_exists(98));
    TransformSet t = transform_set_identity(model->config);
    t.ffn_rotation = true;
    auto merged = merge_transforms(*model, t);
    QVERIFY(merged->online.ffn_dense.defined());
    at::Tensor tokens = tokens_for(model->config, 1, 16, 3);
    QVERIFY(rel_diff(logits(*merged, tokens), logits(*model, tokens)) < kRelTol);
  }

  void missingOnlineRotationIsDetected() {
    // Negative control: the same merged weights without their online H_ff / H_dh must differ,
    // or the invariance checks above could not fail.
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY(m.is_ok());
    TransformSet t = transform_set_random_hadamard(m.value()->config, 3, true);
    auto merged = merge_transforms(*m.value(), t);
    const at::Tensor tokens = tokens_for(merged->config, 1, 32, 9);
    const at::Tensor reference = logits(*m.value(), tokens);
    QVERIFY(rel_diff(logits(*merged, tokens), reference) < kRelTol);
    merged->online.ffn = false;
    QVERIFY(rel_diff(logits(*merged, tokens), reference) > 1e-2);
  }

  void badScalesAreRejected() {
    SynthOptions o;
    o.dim = 32;
    o.n_layers = 1;
    o.n_heads = 4;
    o.vocab_size = 64;
    o.max_seq_len = 32;
    auto model = synth_model(o);
    TransformSet t = transform_set_identity(model->config);
    t.layers[0].s_attn = torch::ones({32}, torch::kDouble);
    t.layers[0].s_attn[3] = 0.0;
    QVERIFY_EXCEPTION_THROWN(merge_transforms(*model, t), StatusError);
    t.layers[0].s_attn = torch::ones({31}, torch::kDouble);
    QVERIFY_EXCEPTION_THROWN(merge_transforms(*model, t), StatusError);
    t = transform_set_identity(model->config);
    t.r_res = torch::eye(31, torch::kDouble);
    QVERIFY_EXCEPTION_THROWN(merge_transforms(*model, t), StatusError);
  }
};

QTEST_GUILESS_MAIN(TestTransforms)
#include "tst_transforms.moc"
