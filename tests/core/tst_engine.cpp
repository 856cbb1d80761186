// SPDX-License-Identifier: Apache-2.0
// The LLaMA engine against real references: llama2.c's greedy output of stories260K, the HF
// round trip (identical logits), KV-cache decoding vs full prefill, GQA + biases, planted outliers.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "core/engine/forward.h"
#include "core/engine/generate.h"
#include "core/engine/runtime.h"
#include "core/model/hf_writer.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/util/file_util.h"
#include "test_data.h"

using namespace ostq;

namespace {

std::shared_ptr<Model> load_or_fail(const std::string& path, ComputeDType dtype = ComputeDType::kFloat32) {
  LoadOptions o;
  o.dtype = dtype;
  auto r = model_load(path, o);
  if (!r.is_ok()) qFatal("%s", r.status().to_string().c_str());
  return r.value();
}

at::Tensor logits_of(const Model& m, const std::vector<int64_t>& ids) {
  torch::NoGradGuard g;
  return model_forward(m, torch::tensor(ids, torch::kLong).view({1, -1}));
}

std::vector<int64_t> some_tokens(int64_t vocab, int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor t = torch::randint(3, vocab, {n}, gen, torch::kLong);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

}  // namespace

class TestEngine : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void greedyMatchesLlama2c() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.bin");
    OSTQ_REQUIRE_SHARED(ref_path, "data/stories260K_greedy200.txt");
    auto model = load_or_fail(model_path);
    auto tok = tokenizer_load(tok_path, 512);
    QVERIFY2(tok.is_ok(), tok.status().to_string().c_str());
    GenerateOptions o;
    o.steps = 200;
    o.temperature = 0.0;
    auto r = generate(*model, *tok.value(), o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    QCOMPARE(QString::fromStdString(r->text), QString::fromStdString(read_file(ref_path)));
    QCOMPARE(r->tokens.size(), size_t{201});
  }

  void hfRoundTripGivesIdenticalLogits() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.model");
    auto original = load_or_fail(model_path);
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path()) + "/stories260K-hf";
    HfWriteOptions w;
    w.tokenizer_path = tok_path;
    hf_write(*original, dir, w);
    QVERIFY(file_exists(dir + "/config.json"));
    QVERIFY(file_exists(dir + "/tokenizer.json"));
    auto reloaded = load_or_fail(dir);
    QCOMPARE(reloaded->config.source, SourceFormat::kHuggingFace);
    const auto ids = some_tokens(512, 200, 7);
    const double diff = (logits_of(*original, ids) - logits_of(*reloaded, ids)).abs().max().item<double>();
    QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
  }

  void kvCacheDecodeMatchesPrefill() {
    SynthOptions s;
    s.dim = 64; s.n_layers = 2; s.n_heads = 8; s.n_kv_heads = 2; s.vocab_size = 300; s.max_seq_len = 64;
    s.qkv_bias = true;
    auto model = synth_model(s);
    const auto ids = some_tokens(300, 24, 3);
    at::Tensor full = logits_of(*model, ids);  // [1, 24, V]
    torch::NoGradGuard g;
    KvCache cache = kv_cache_create(*model, 1, 64);
    ForwardOptions fo{&cache, nullptr, LogitsMode::kAll};
    std::vector<int64_t> head(ids.begin(), ids.begin() + 10);
    at::Tensor part = model_forward(*model, torch::tensor(head, torch::kLong).view({1, -1}), fo);
    double diff = (part - full.narrow(1, 0, 10)).abs().max().item<double>();
    for (size_t i = 10; i < ids.size(); ++i) {
      at::Tensor step = model_forward(*model, torch::full({1, 1}, ids[i], torch::kLong), fo);
      diff = std::max(diff, (step[0][0] - full[0][static_cast<int64_t>(i)]).abs().max().item<double>());
    }
    QVERIFY2(diff < 1e-4, qPrintable(QString::number(diff)));
  }

  void synthGqaBiasRoundTrip_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("dtype");
    QTest::newRow("qwen2-f32") << "qwen2" << "F32";
    QTest::newRow("llama-bf16") << "llama" << "BF16";
    QTest::newRow("mistral-tied-f16") << "mistral" << "F16";
  }
  void synthGqaBiasRoundTrip() {
    QFETCH(QString, arch);
    QFETCH(QString, dtype);
    SynthOptions s;
    s.arch = arch == "qwen2" ? Architecture::kQwen2 : arch == "mistral" ? Architecture::kMistral : Architecture::kLlama;
    s.dim = 96; s.n_layers = 2; s.n_heads = 6; s.n_kv_heads = 2; s.vocab_size = 320; s.max_seq_len = 128;
    s.tied_embeddings = arch == "mistral";
    auto model = synth_model(s);
    HfWriteOptions w;
    w.dtype = dtype == "F32" ? DType::kF32 : dtype == "BF16" ? DType::kBF16 : DType::kF16;
    w.synthetic_vocab_tokenizer = 320;
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path()) + "/m";
    hf_write(*model, dir, w);
    auto reloaded = load_or_fail(dir);
    QCOMPARE(reloaded->config.qkv_bias, s.arch == Architecture::kQwen2);
    QCOMPARE(reloaded->config.tied_embeddings, s.tied_embeddings);
    QCOMPARE(reloaded->config.n_kv_heads, int64_t{2});
    const auto ids = some_tokens(320, 40, 5);
    // Stored in reduced precision: compare with the original rounded the same way.
    if (w.dtype != DType::kF32) {
      const auto st = w.dtype == DType::kBF16 ? at::kBFloat16 : at::kHalf;
      for (auto& l : model->weights.layers) {
        for (at::Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.attn_norm, &l.ffn_norm,
                              &l.bq, &l.bk, &l.bv}) {
          if (t->defined()) *t = t->to(st).to(at::kFloat);
        }
      }
      model->weights.embedding = model->weights.embedding.to(st).to(at::kFloat);
      model->weights.final_norm = model->weights.final_norm.to(st).to(at::kFloat);
      model->weights.lm_head = s.tied_embeddings ? model->weights.embedding
                                                 : model->weights.lm_head.to(st).to(at::kFloat);
    }
    const double diff = (logits_of(*model, ids) - logits_of(*reloaded, ids)).abs().max().item<double>();
    QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
  }

  void plantedOutliersLeaveLogitsBitIdentical() {
    SynthOptions s;
    s.dim = 64; s.n_layers = 2; s.n_heads = 4; s.vocab_size = 300; s.max_seq_len = 64;
    auto plain = synth_model(s);
    s.outliers = 3;
    s.outlier_scale = 64;
    auto planted = synth_model(s);
    const auto ids = some_tokens(300, 32, 11);
    QCOMPARE((logits_of(*plain, ids) - logits_of(*planted, ids)).abs().max().item<double>(), 0.0);
    // ... while the q/k/v input really has outlier channels now.
    struct Probe : ForwardHooks {
      double ratio = 0;
      void on_site(int64_t layer, Site site, at::Tensor& x) override {
        if (layer == 0 && site == Site::kAttnInput) {
          at::Tensor ch = x.abs().amax({0, 1});
          ratio = (ch.max() / ch.median()).item<double>();
        }
      }
    } probe;
    torch::NoGradGuard g;
    ForwardOptions fo;
    fo.hooks = &probe;
    model_forward(*planted, torch::tensor(ids, torch::kLong).view({1, -1}), fo);
    QVERIFY2(probe.ratio > 20, qPrintable(QString::number(probe.ratio)));
  }

  void bf16ComputeCloseToFp32() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    auto f32 = load_or_fail(model_path);
    auto b16 = load_or_fail(model_path, ComputeDType::kBFloat16);
    QCOMPARE(b16->weights.layers[0].wq.scalar_type(), at::kBFloat16);
    const auto ids = some_tokens(512, 64, 9);
    at::Tensor a = torch::log_softmax(logits_of(*f32, ids), -1);
    at::Tensor b = torch::log_softmax(logits_of(*b16, ids), -1);
    QVERIFY((a.exp() * (a - b)).sum(-1).mean().item<double>() < 0.05);  // mean KL in nats
  }
};

QTEST_GUILESS_MAIN(TestEngine)
#include "tst_engine.moc"
