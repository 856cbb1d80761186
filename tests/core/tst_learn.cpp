// SPDX-License-Identifier: Apache-2.0
// Learned transforms (OSTQUANT_SPEC.md §3.8, §5, §15.2–3) and the calibration job:
// - the training forward with quantizers off equals the FP model and the fp64-merged model
//   (relative max logit difference ≤ 1e-4) for random rotations and scales, on stories260K and a
//   synthetic GQA model with q/k/v biases; every parameter receives a gradient;
// - training keeps ‖RᵀR − I‖_max < 1e-4 after every step and lowers the KL to FP (4-4-16);
// - two runs with one seed give the same loss log (≤ 1e-6) and transforms;
// - interrupt (cancel) + resume reaches the same transforms as an uninterrupted run (≤ 1e-6);
//   a checkpoint from other settings is refused;
// - validation on held-out windows keeps the step with the lowest held-out loss (the
//   initialisation when training only hurts), also across a resume;
// - SpinQuant shares one R2 per layer and has no scales;
// - the job writes its output directory only on success (cancel leaves nothing at --out), and
//   what it writes loads back (quantized model, transforms).
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/calib/calibration_job.h"
#include "core/calib/learn.h"
#include "core/calib/trainable.h"
#include "core/calib/transform_io.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/eval/calibration.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/methods.h"
#include "core/quant/quantized_io.h"
#include "core/tokenizer/tokenizer.h"
#include "learn_fixtures.h"
#include "test_data.h"

using namespace ostq;
using ostq_test::gqa_with_biases;
using ostq_test::random_init;

namespace {

at::Tensor random_tokens(const ModelConfig& c, int64_t b, int64_t t, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randint(3, c.vocab_size, {b, t}, gen, torch::kLong);
}

std::shared_ptr<Model> stories_or_null() {
  const std::string path = ostq_test::shared_path("models/stories260K.bin");
  if (!file_exists(path)) return nullptr;
  return model_load(path).value();
}

QuantConfig config_of(const std::string& bits, int64_t head_dim) {
  Result<QuantConfig> c = quant_config_parse(bits, head_dim);
  if (!c.is_ok()) qFatal("%s", c.status().to_string().c_str());
  return c.value();
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

// Windows from the real data when present, else random tokens.
at::Tensor calibration_windows(const Model& m, int64_t n, int64_t t) {
  const std::string tok_path = ostq_test::shared_path("models/tok512.bin");
  const std::string data_path = ostq_test::shared_path("data/tinystories_val.txt");
  if (m.config.vocab_size == 512 && file_exists(tok_path) && file_exists(data_path)) {
    auto tok = tokenizer_load(tok_path, 512).value();
    std::vector<int32_t> ids = tokenize_text_file(*tok, data_path, TextProtocol::kPlain);
    return sample_windows(ids, 0, 60000, t, n, 42);
  }
  return random_tokens(m.config, n, t, 11);
}

LearnOptions small_run(int64_t steps) {
  LearnOptions o;
  o.steps = steps;
  o.batch = 4;
  o.micro_batch = 2;
  return o;
}

LearnResult learn_or_fail(const Model& m, const QuantConfig& c, const at::Tensor& w, const LearnOptions& o) {
  Result<LearnResult> r = learn_transforms(m, c, w, o);
  if (!r.is_ok()) qFatal("%s", r.status().to_string().c_str());
  return std::move(r).value();
}

double max_transform_diff(const TransformSet& a, const TransformSet& b) {
  double d = (a.r_res - b.r_res).abs().max().item<double>();
  for (size_t li = 0; li < a.layers.size(); ++li) {
    const LayerTransforms &x = a.layers[li], &y = b.layers[li];
    for (size_t h = 0; h < x.r_ov.size(); ++h) d = std::max(d, (x.r_ov[h] - y.r_ov[h]).abs().max().item<double>());
    for (auto [p, q] : {std::pair{&x.s_attn, &y.s_attn}, {&x.s_ffn, &y.s_ffn}, {&x.s_ov, &y.s_ov},
                        {&x.s_qk, &y.s_qk}, {&x.s_up_down, &y.s_up_down}}) {
      // An undefined scale is the identity (an init without smoothing vectors).
      if (!p->defined() && !q->defined()) continue;
      const at::Tensor a = p->defined() ? *p : at::ones_like(*q), b = q->defined() ? *q : at::ones_like(*p);
      d = std::max(d, (a - b).abs().max().item<double>());
    }
  }
  return d;
}

// The planted-outlier synthetic model (4 residual and FFN channels ×64, exactly compensated) with
// a sharpened head (lm_head ×4) so that its next-token distributions are peaked like a trained
// model's and quantization damage shows in perplexity.
std::shared_ptr<Model> peaked_outlier_model() {
  SynthOptions o;
  o.dim = 256;
  o.hidden_dim = 768;
  o.n_layers = 2;
  o.n_heads = 4;
  o.n_kv_heads = 4;
  o.vocab_size = 512;
  o.max_seq_len = 128;
  o.outliers = 4;
  o.outlier_scale = 64.0;
  o.seed = 3;
  auto m = synth_model(o);
  m->weights.lm_head = m->weights.lm_head * 4.0;
  return m;
}

// n sequences of t tokens sampled from the model itself (temperature 1), seeded.
at::Tensor sample_from(const Model& m, int64_t n, int64_t t, uint64_t seed) {
  torch::NoGradGuard g;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor seq = torch::full({n, 1}, 1, torch::kLong);
  while (seq.size(1) < t) {
    at::Tensor logits = model_forward(m, seq).select(1, seq.size(1) - 1);
    at::Tensor next = torch::multinomial(torch::softmax(logits, -1), 1, false, gen);
    seq = torch::cat({seq, next}, 1);
  }
  return seq;
}

// Perplexity of next-token prediction on windows [N, T] (positions 1 … T-1 scored).
double perplexity(const Model& m, const at::Tensor& windows, ForwardHooks* hooks = nullptr) {
  torch::NoGradGuard g;
  ForwardOptions o;
  o.hooks = hooks;
  at::Tensor logits = model_forward(m, windows, o);
  const int64_t T = windows.size(1);
  at::Tensor lp = torch::log_softmax(logits.narrow(1, 0, T - 1).to(torch::kDouble), -1);
  at::Tensor nll = -lp.gather(-1, windows.narrow(1, 1, T - 1).unsqueeze(-1)).mean();
  return std::exp(nll.item<double>());
}

}  // namespace

class TestLearn : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void studentForwardIsExactWithoutQuantizers() {
    std::vector<std::shared_ptr<Model>> models = {gqa_with_biases()};
    if (auto s = stories_or_null()) models.push_back(s);
    for (const auto& m : models) {
      TransformSet init = random_init(m->config, 9);
      for (StudentForm form : {StudentForm::kWeights, StudentForm::kActivations}) {
        TrainableSpec spec;
        spec.form = form;
        TrainableTransforms tt(*m, init, spec);
        at::Tensor tokens = random_tokens(m->config, 2, 32, 3);
        torch::NoGradGuard g;
        at::Tensor student = tt.student_logits(tt.student_hidden(tokens));
        at::Tensor fp = model_forward(*m, tokens);
        at::Tensor merged = model_forward(*merge_transforms(*m, tt.transform_set()), tokens);
        const double d_fp = rel_diff(student, fp), d_merged = rel_diff(student, merged);
        qInfo("dim %lld, %s form: student vs FP %.2e, vs merged %.2e", static_cast<long long>(m->config.dim),
              form == StudentForm::kWeights ? "weight" : "activation", d_fp, d_merged);
        QVERIFY(d_fp < 1e-4);
        QVERIFY(d_merged < 1e-4);
      }
    }
  }

  void everyParameterGetsAGradient() {
    auto m = gqa_with_biases();
    for (StudentForm form : {StudentForm::kWeights, StudentForm::kActivations}) {
      TrainableSpec spec;
      spec.form = form;
      spec.quantizers = config_of("4-4-4", m->config.head_dim);
      TransformSet init = random_init(m->config, 4);
      TrainableTransforms tt(*m, init, spec);
      QCOMPARE(tt.form(), form);
      at::Tensor tokens = random_tokens(m->config, 2, 16, 8);
      at::Tensor logits = tt.student_logits(tt.student_hidden(tokens));
      torch::log_softmax(logits, -1).select(-1, 5).sum().backward();
      for (const at::Tensor& p : tt.parameters()) {
        QVERIFY(p.grad().defined());
        QVERIFY(p.grad().abs().sum().item<double>() > 0.0);
      }
    }
  }

  void trainingKeepsRotationsOrthogonalAndLowersTheLoss() {
    auto m = stories_or_null();
    if (!m) m = gqa_with_biases();
    const QuantConfig c = config_of("4-4-16", m->config.head_dim);
    at::Tensor w = calibration_windows(*m, 16, 128);
    LearnOptions o = small_run(20);
    o.batch = 8;
    o.micro_batch = 4;
    // 4-4-16 and 10× the spec's learning rates: at the defaults 20 steps move the transforms too
    // little to measure, and at 4-4-4 the per-head KV4 noise (d_h = 8) swamps 20 steps (measured
    // 0.4885 → 0.4975 at 4-4-4); the defaults are checked below.
    o.lr_rotation = 10 * kOstQuantRotationLr;
    o.lr_scale = 10 * kOstQuantScaleLr;
    LearnResult r = learn_or_fail(*m, c, w, o);
    QCOMPARE(static_cast<int64_t>(r.log.size()), int64_t{20});
    for (const StepRecord& s : r.log) QVERIFY2(s.orthogonality_error < 1e-4, qPrintable(QString::number(s.orthogonality_error)));
    // The objective on a fixed set (all calibration windows), before and after: mean KL(FP ‖
    // merged model with the training's quantizers: activations 4-bit, weights FP).
    // Measured on stories260K: 0.0773 → 0.0641 (1 thread), 0.0616 (2 threads).
    const QuantConfig train_quantizers = config_of("16-4-16", m->config.head_dim);
    auto mean_kl = [&](const TransformSet& t) {
      torch::NoGradGuard g;
      ActivationQuantHooks hooks(train_quantizers);
      ForwardOptions fo;
      fo.hooks = &hooks;
      at::Tensor lp = torch::log_softmax(model_forward(*m, w).to(torch::kDouble), -1);
      at::Tensor lq = torch::log_softmax(model_forward(*merge_transforms(*m, t), w, fo).to(torch::kDouble), -1);
      return (lp.exp() * (lp - lq)).sum(-1).mean().item<double>();
    };
    const double before = mean_kl(r.initial), after = mean_kl(r.transforms);
    qInfo("KL to FP on the calibration windows: init %.5f, learned %.5f (%s)", before, after, r.settings.describe().c_str());
    QVERIFY(after < before);
    const LearnSettings d = resolve_learn_settings(LearnOptions{}, c);
    QCOMPARE(d.init, RotationInit::kWomi);  // W4A4 defaults (§12)
    QCOMPARE(d.batch, int64_t{32});
    QCOMPARE(d.loss, LossKind::kKlTop);
    QVERIFY(d.lr_rotation == kOstQuantRotationLr && d.lr_scale == kOstQuantScaleLr && !d.weight_fake_quant);
    const LearnSettings w16 = resolve_learn_settings(LearnOptions{}, config_of("4-16-16", m->config.head_dim));
    QVERIFY(w16.init == RotationInit::kHadamard && w16.batch == 16 && w16.weight_fake_quant);
  }

  void runsAreDeterministicForASeed() {
    auto m = gqa_with_biases();
    const QuantConfig c = config_of("4-4-16", m->config.head_dim);
    at::Tensor w = random_tokens(m->config, 8, 32, 1);
    LearnResult a = learn_or_fail(*m, c, w, small_run(4));
    LearnResult b = learn_or_fail(*m, c, w, small_run(4));
    for (size_t i = 0; i < a.log.size(); ++i) QVERIFY(std::abs(a.log[i].loss - b.log[i].loss) <= 1e-6);
    QVERIFY(max_transform_diff(a.transforms, b.transforms) == 0.0);
  }

  void resumeReachesTheUninterruptedResult() {
    auto m = gqa_with_biases();
    const QuantConfig c = config_of("4-4-4", m->config.head_dim);
    at::Tensor w = random_tokens(m->config, 8, 32, 2);
    QTemporaryDir dir;
    LearnOptions o = small_run(6);
    o.checkpoint_every = 2;
    o.checkpoint_dir = ostq_test::qstr(dir.path()) + "/uninterrupted";
    LearnResult full = learn_or_fail(*m, c, w, o);

    o.checkpoint_dir = ostq_test::qstr(dir.path()) + "/interrupted";
    o.progress = [](const Progress& p) { return !(p.train && p.train->step == 3); };
    Result<LearnResult> cancelled = learn_transforms(*m, c, w, o);
    QVERIFY(cancelled.status().is_cancelled());
    QVERIFY(file_exists(o.checkpoint_dir + "/checkpoint.pt"));

    o.progress = {};
    o.resume = true;
    LearnResult resumed = learn_or_fail(*m, c, w, o);
    QCOMPARE(resumed.resumed_from_step, int64_t{3});
    QCOMPARE(resumed.log.size(), full.log.size());
    for (size_t i = 0; i < full.log.size(); ++i) QVERIFY(std::abs(full.log[i].loss - resumed.log[i].loss) <= 1e-6);
    const double d = max_transform_diff(full.transforms, resumed.transforms);
    qInfo("resumed vs uninterrupted: max transform difference %.3g", d);
    QVERIFY(d <= 1e-6);

    // The same checkpoint with other settings is refused, naming the file.
    o.steps = 7;
    Result<LearnResult> other = learn_transforms(*m, c, w, o);
    QCOMPARE(other.status().code(), StatusCode::kInvalidInput);
    QVERIFY(other.status().message().find("different settings") != std::string::npos);
    QVERIFY(other.status().message().find("checkpoint.pt") != std::string::npos);
  }

  void validationKeepsTheStepWithTheLowestHeldOutLoss() {
    auto m = gqa_with_biases();
    const QuantConfig c = config_of("4-4-16", m->config.head_dim);
    at::Tensor w = random_tokens(m->config, 10, 32, 5);
    LearnOptions o = small_run(6);
    o.validation_windows = 2;  // the last 2 of the 10 windows
    o.validate_every = 2;
    LearnResult r = learn_or_fail(*m, c, w, o);
    QVERIFY(std::isfinite(r.initial_validation_loss));
    double best = r.initial_validation_loss;
    int64_t best_step = 0;
    for (const StepRecord& s : r.log) {
      QCOMPARE(std::isnan(s.validation_loss), s.step % 2 != 0);  // measured at steps 2, 4, 6 only
      if (!std::isnan(s.validation_loss) && s.validation_loss < best) {
        best = s.validation_loss;
        best_step = s.step;
      }
    }
    qInfo("%s", r.validation_summary.c_str());
    QCOMPARE(r.selected_step, best_step);
    QVERIFY(r.validation_summary.find("kept step " + std::to_string(best_step)) != std::string::npos);
    QVERIFY(learn_log_csv(r.log).find(",validation_loss\n") != std::string::npos);

    // Learning rates that wreck the transforms: every held-out loss is above the initialisation's,
    // so the run returns the initial transforms (up to their fp32 training copy).
    LearnOptions wreck = o;
    wreck.lr_rotation = 3.0;
    wreck.lr_scale = 3.0;
    LearnResult bad = learn_or_fail(*m, c, w, wreck);
    for (const StepRecord& s : bad.log) QVERIFY(std::isnan(s.validation_loss) || s.validation_loss > bad.initial_validation_loss);
    QCOMPARE(bad.selected_step, int64_t{0});
    QVERIFY(max_transform_diff(bad.transforms, bad.initial) <= 1e-6);  // the fp32 copy of the fp64 init

    // Interrupt + resume keeps the best-so-far: the same selection and transforms.
    QTemporaryDir dir;
    o.checkpoint_every = 2;
    o.checkpoint_dir = ostq_test::qstr(dir.path()) + "/ck";
    o.progress = [](const Progress& p) { return !(p.train && p.train->step == 3); };
    QVERIFY(learn_transforms(*m, c, w, o).status().is_cancelled());
    o.progress = {};
    o.resume = true;
    LearnResult resumed = learn_or_fail(*m, c, w, o);
    QCOMPARE(resumed.resumed_from_step, int64_t{3});
    QCOMPARE(resumed.selected_step, r.selected_step);
    QVERIFY(resumed.initial_validation_loss == r.initial_validation_loss);
    QVERIFY(max_transform_diff(resumed.transforms, r.transforms) <= 1e-6);

    // Holding out every window leaves nothing to train on: refused.
    LearnOptions all = small_run(2);
    all.validation_windows = 10;
    Result<LearnResult> none = learn_transforms(*m, c, w, all);
    QCOMPARE(none.status().code(), StatusCode::kInvalidInput);
    QVERIFY(none.status().message().find("none would be left to train on") != std::string::npos);
  }

  void spinquantSharesR2AndHasNoScales() {
    auto m = gqa_with_biases();
    const QuantConfig c = config_of("4-4-16", m->config.head_dim);
    LearnOptions o = small_run(3);
    o.method = LearnedMethod::kSpinQuant;
    LearnResult r = learn_or_fail(*m, c, random_tokens(m->config, 8, 32, 4), o);
    QCOMPARE(r.settings.loss, LossKind::kCrossEntropy);
    QVERIFY(!r.settings.learn_scales);
    for (const LayerTransforms& l : r.transforms.layers) {
      QVERIFY(!l.s_attn.defined() && !l.s_up_down.defined());
      QVERIFY(torch::equal(l.r_ov[0], l.r_ov[1]));
    }
    for (const StepRecord& s : r.log) QVERIFY(s.orthogonality_error < 1e-4);
  }

  void ostquantRecoversThePlantedOutlierModel() {
    // Issue goal: on the synthetic outlier model, OSTQuant at 4-4-4 stays within 20% of FP
    // perplexity while RTN does not. Measured (README, 2 threads as under CTest): FP 7.100, RTN
    // +197.7%, QuaRot +43.8%, OSTQuant (60 steps × 8 sequences) with RTN weights +33.7%; with GPTQ
    // on the merged weights (the spec's full pipeline) QuaRot+GPTQ +15.1%, OSTQuant+GPTQ +13.3%.
    // Asserted: the goal with GPTQ weights, and that learning beats the training-free rotations it
    // starts from with either weight quantizer. Text: sampled from the FP model (calibration and
    // evaluation sequences are different draws).
    auto m = peaked_outlier_model();
    at::Tensor calib = sample_from(*m, 32, 128, 1);
    at::Tensor eval = sample_from(*m, 16, 128, 2);
    const double fp = perplexity(*m, eval);
    auto quantized_ppl = [&](const std::string& method, int64_t steps) {
      QuantizeOptions o;
      o.method = method_spec_parse(method).value();
      o.config = config_of("4-4-4", m->config.head_dim);
      o.calibration = calib;
      o.learn = small_run(steps);
      o.learn.batch = 8;
      o.learn.micro_batch = 4;
      Result<QuantizedModel> q = quantize_model(*m, o);
      if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
      ActivationQuantHooks hooks(q->config);
      return perplexity(*q->model, eval, &hooks);
    };
    const double rtn = quantized_ppl("rtn", 0), quarot = quantized_ppl("quarot", 0);
    const double ost = quantized_ppl("ostquant", 60);
    const double quarot_gptq = quantized_ppl("quarot+gptq", 0), ost_gptq = quantized_ppl("ostquant+gptq", 60);
    auto gap = [fp](double ppl) { return 100 * (ppl / fp - 1); };
    qInfo("peaked outlier model 4-4-4 ppl: FP %.3f  rtn %.3f (%+.1f%%)  quarot %.3f (%+.1f%%)  ostquant %.3f (%+.1f%%)  "
          "quarot+gptq %.3f (%+.1f%%)  ostquant+gptq %.3f (%+.1f%%)",
          fp, rtn, gap(rtn), quarot, gap(quarot), ost, gap(ost), quarot_gptq, gap(quarot_gptq), ost_gptq, gap(ost_gptq));
    QVERIFY(rtn > 1.2 * fp);
    QVERIFY(ost_gptq < 1.2 * fp);
    QVERIFY(quarot < rtn);
    QVERIFY(ost < quarot);
    QVERIFY(ost_gptq < quarot_gptq);
  }

  void jobWritesOnlyOnSuccess() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.bin");
    OSTQ_REQUIRE_SHARED(data_path, "data/tinystories_val.txt");
    auto m = model_load(model_path).value();
    auto tok = tokenizer_load(tok_path, 512).value();
    QTemporaryDir dir;
    const std::string text = ostq_test::qstr(dir.path()) + "/calib.txt";
    {
      std::string all = read_file(data_path);
      std::ofstream(text) << all.substr(0, 40000);
    }
    CalibrationJobOptions o;
    o.method = method_spec_parse("ostquant+gptq").value();
    o.bits = "4-4-16";
    o.calib_files = {text};
    o.seqlen = 128;
    o.calib_windows = 8;
    o.learn = small_run(3);
    o.out_dir = ostq_test::qstr(dir.path()) + "/out";
    o.tokenizer_path = tok_path;
    o.progress = [](const Progress& p) { return !(p.train && p.train->step == 2); };
    Result<CalibrationJobResult> cancelled = run_calibration_job(*m, *tok, o);
    QVERIFY(cancelled.status().is_cancelled());
    QVERIFY(!std::filesystem::exists(o.out_dir));
    QVERIFY(file_exists(calibration_checkpoint_dir(o.out_dir) + "/checkpoint.pt"));

    o.progress = {};
    o.learn.resume = true;
    Result<CalibrationJobResult> r = run_calibration_job(*m, *tok, o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    QVERIFY(!std::filesystem::exists(calibration_checkpoint_dir(o.out_dir)));  // done: checkpoint removed
    for (const char* f : {"ostq_quant.json", "transforms.safetensors", "loss_log.csv", "report.json"}) {
      QVERIFY2(file_exists(o.out_dir + "/" + f), f);
    }
    TransformSet loaded = load_transform_set(o.out_dir + "/transforms.safetensors", m->config);
    QVERIFY(max_transform_diff(loaded, r->quantized.learned->transforms) == 0.0);
    Result<QuantizedModel> back = quantized_model_load(o.out_dir);
    QVERIFY2(back.is_ok(), back.status().to_string().c_str());
    QCOMPARE(QString::fromStdString(back->method), QString("ostquant+gptq"));
    const std::string csv = read_file(o.out_dir + "/loss_log.csv");
    QCOMPARE(std::count(csv.begin(), csv.end(), '\n'), 4L);  // header + 3 steps
  }
};

QTEST_GUILESS_MAIN(TestLearn)
#include "tst_learn.moc"
