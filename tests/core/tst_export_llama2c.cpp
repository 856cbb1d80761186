// SPDX-License-Identifier: Apache-2.0
// llama2.c exports (FORMATS.md §1, §6.4): an FP re-export of stories260K reproduces the original
// file byte for byte, RTN weights survive a v0 round trip exactly (same greedy tokens), v2 stays
// within half an int8 step per group, an untied classifier uses the negative vocab_size / flag
// byte, and models llama2.c cannot run are refused.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "core/engine/generate.h"
#include "core/engine/runtime.h"
#include "core/export/llama2c_export.h"
#include "core/io/llama2c_format.h"
#include "core/model/llama2c_loader.h"
#include "core/model/synth.h"
#include "core/tokenizer/tokenizer.h"
#include "test_data.h"

using namespace ostq;

namespace {

QuantizedModel quantize_or_fail(const Model& m, const std::string& bits) {
  QuantizeOptions o;
  o.method = method_spec_parse("rtn").value();
  o.config = quant_config_parse(bits, m.config.head_dim).value();
  Result<QuantizedModel> q = quantize_model(m, o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  return std::move(q).value();
}

// An unquantized model as the exporter sees it (bits 16-16-16: nothing quantized).
QuantizedModel wrap(std::shared_ptr<Model> m) {
  QuantizedModel q;
  q.config = quant_config_parse("16-16-16", m->config.head_dim).value();
  q.model = std::move(m);
  return q;
}

ExportOptions llama2c_options(int version) {
  ExportOptions o;
  o.format = ExportFormat::kLlama2c;
  o.llama2c_version = version;
  return o;
}

// Every tensor pair (name, a, b) of two models, for exact and approximate comparisons.
template <typename Fn>
void for_each_weight(const Model& a, const Model& b, Fn fn) {
  fn("embedding", a.weights.embedding, b.weights.embedding);
  fn("final_norm", a.weights.final_norm, b.weights.final_norm);
  fn("lm_head", a.weights.lm_head, b.weights.lm_head);
  for (size_t i = 0; i < a.weights.layers.size(); ++i) {
    const LayerWeights &x = a.weights.layers[i], &y = b.weights.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    fn(p + "attn_norm", x.attn_norm, y.attn_norm);
    fn(p + "ffn_norm", x.ffn_norm, y.ffn_norm);
    fn(p + "wq", x.wq, y.wq);
    fn(p + "wk", x.wk, y.wk);
    fn(p + "wv", x.wv, y.wv);
    fn(p + "wo", x.wo, y.wo);
    fn(p + "w_gate", x.w_gate, y.w_gate);
    fn(p + "w_up", x.w_up, y.w_up);
    fn(p + "w_down", x.w_down, y.w_down);
  }
}

void expect_equal_weights(const Model& a, const Model& b) {
  for_each_weight(a, b, [](const std::string& name, const at::Tensor& x, const at::Tensor& y) {
    QVERIFY2(torch::equal(x.to(at::kFloat), y.to(at::kFloat)), name.c_str());
  });
}

std::vector<int32_t> greedy(const Model& m, const Tokenizer& tok, const std::string& prompt, int64_t steps) {
  GenerateOptions o;
  o.prompt = prompt;
  o.steps = steps;
  Result<GenerateResult> r = generate(m, tok, o);
  if (!r.is_ok()) qFatal("%s", r.status().to_string().c_str());
  return r.value().tokens;
}

std::shared_ptr<Model> small_synth(bool tied, bool bias = false) {
  SynthOptions o;
  o.dim = 64;
  o.hidden_dim = 96;
  o.n_layers = 2;
  o.n_heads = 4;
  o.n_kv_heads = 2;
  o.vocab_size = 100;
  o.max_seq_len = 32;
  o.tied_embeddings = tied;
  o.qkv_bias = bias;
  o.seed = 7;
  return synth_model(o);
}

Status export_status(const QuantizedModel& q, const std::string& path, int version) {
  return status_guard([&] { write_llama2c_export(q, path, llama2c_options(version)); });
}

}  // namespace

class TestExportLlama2c : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void groupSizeRule() {
    QCOMPARE(llama2c_q80_group_size(64, 172), 4);
    QCOMPARE(llama2c_q80_group_size(288, 768), 32);
    QCOMPARE(llama2c_q80_group_size(4096, 11008), 64);
    QCOMPARE(llama2c_q80_group_size(63, 171), 1);
  }

  // (1) FP stories260K → v0 is the original file; the RoPE tables may differ in the last ulp.
  void fpV0ReproducesOriginal() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    auto fp = model_load(src).value();
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/fp.bin";
    ExportReport r = write_llama2c_export(quantize_or_fail(*fp, "16-16-16"), out, llama2c_options(0));
    QCOMPARE(r.path, out);
    QCOMPARE(r.format, ExportFormat::kLlama2c);
    const std::string a = read_file(src), b = read_file(out);
    QCOMPARE(b.size(), a.size());
    const size_t tables = 1040156, end = 1056540;  // FORMATS.md §1.1 offsets
    QCOMPARE(a.size(), end);
    QVERIFY(std::memcmp(a.data(), b.data(), tables) == 0);
    std::vector<float> x((end - tables) / 4), y(x.size());
    std::memcpy(x.data(), a.data() + tables, end - tables);
    std::memcpy(y.data(), b.data() + tables, end - tables);
    double max_diff = 0.0;
    size_t differing = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(x[i] - y[i])));
      differing += x[i] != y[i];
    }
    qInfo("RoPE tables: %zu of %zu values differ, max |diff| %.3g", differing, x.size(), max_diff);
    QVERIFY(max_diff < 1e-5);
  }

  // (2) RTN W4 → v0 → reload: identical weights and identical greedy tokens.
  void rtnV0RoundTripIsExact() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.bin");
    auto fp = model_load(src).value();
    QuantizedModel q = quantize_or_fail(*fp, "4-16-16");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/w4.bin";
    ExportOptions o = llama2c_options(0);
    o.tokenizer_path = tok_path;
    write_llama2c_export(q, out, o);
    const std::string sidecar = ostq_test::qstr(tmp.path()) + "/w4.tokenizer.bin";
    QCOMPARE(llama2c_tokenizer_path(out), sidecar);
    QCOMPARE(read_file(sidecar), read_file(tok_path));
    QCOMPARE(tokenizer_find_for_model(out), sidecar);  // `ostq generate w4.bin` finds it
    auto back = llama2c_load(out);
    QVERIFY(back->weights.lm_head.is_same(back->weights.embedding));
    expect_equal_weights(*q.model, *back);

    auto tok = tokenizer_load(tok_path, 512);
    QVERIFY(tok.is_ok());
    const std::string prompt = "Once upon a time";
    const int64_t steps = static_cast<int64_t>(tok.value()->encode(prompt, true).size()) + 64;
    const std::vector<int32_t> a = greedy(*q.model, *tok.value(), prompt, steps);
    const std::vector<int32_t> b = greedy(*back, *tok.value(), prompt, steps);
    qInfo("greedy: %zu tokens, %s", a.size(), tok.value()->decode(a).c_str());
    QVERIFY(a.size() > 16);
    QCOMPARE(b, a);
  }

  // A SentencePiece .model is converted to the tokenizer.bin llama2.c's tokenizer.py writes.
  void sentencepieceTokenizerConverted() {
    OSTQ_REQUIRE_SHARED(sp, "models/tok512.model");
    OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/s.bin";
    ExportOptions o = llama2c_options(0);
    o.tokenizer_path = sp;
    SynthOptions so;  // a 512-row model: llama2.c reads one tokenizer entry per row
    so.dim = 32;
    so.hidden_dim = 64;
    so.n_layers = 1;
    so.n_heads = 4;
    so.vocab_size = 512;
    so.max_seq_len = 16;
    so.tied_embeddings = true;
    QuantizedModel q = wrap(synth_model(so));
    ExportReport r = write_llama2c_export(q, out, o);
    QCOMPARE(read_file(llama2c_tokenizer_path(out)), read_file(bin));
    o.tokenizer_path = ostq_test::qstr(tmp.path()) + "/tokenizer.json";
    r = write_llama2c_export(q, out, o);
    QVERIFY(!r.notes.empty() && r.notes.back().find("not carried") != std::string::npos);
  }

  // (3) v2: header as §1.3, GS 4, every weight within half an int8 step of its group.
  void v2RoundTripWithinOneStep() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    auto fp = model_load(src).value();
    QuantizedModel q = quantize_or_fail(*fp, "4-16-16");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/q8.bin";
    write_llama2c_export(q, out, llama2c_options(2));
    const std::string bytes = read_file(out);
    int32_t h[9];
    std::memcpy(h, bytes.data(), sizeof h);
    QCOMPARE(static_cast<uint32_t>(h[0]), 0x616b3432u);
    QCOMPARE(h[1], 2);
    QCOMPARE(std::vector<int32_t>(h + 2, h + 9), (std::vector<int32_t>{64, 172, 5, 8, 4, 512, 512}));
    QCOMPARE(static_cast<int>(bytes[36]), 1);
    int32_t gs;
    std::memcpy(&gs, bytes.data() + 37, 4);
    QCOMPARE(gs, 4);
    for (size_t i = 41; i < 256; ++i) QCOMPARE(static_cast<int>(bytes[i]), 0);
    Llama2cLayout layout = llama2c_parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out);
    QCOMPARE(layout.version, 2);

    auto back = llama2c_load(out);
    double worst = 0.0;  // max over groups of |diff| / step
    for_each_weight(*q.model, *back, [&](const std::string& name, const at::Tensor& x, const at::Tensor& y) {
      if (name.find("norm") != std::string::npos) {
        QVERIFY2(torch::equal(x, y), name.c_str());  // norms stay fp32
        return;
      }
      at::Tensor g = x.to(at::kFloat).reshape({-1, 4});
      at::Tensor step = g.abs().amax(1) / 127.0f;
      at::Tensor err = (y.reshape({-1, 4}) - g).abs().amax(1);
      QVERIFY2((err <= step * 0.5001f).all().item<bool>(), name.c_str());
      worst = std::max(worst, (err / step.clamp_min(1e-30f)).max().item<double>());
    });
    qInfo("v2: max error %.4f int8 steps, %zu bytes", worst, bytes.size());
  }

  // (4) Untied classifier: negative vocab_size in v0, flag 0 in v2; a zero group stays zero.
  void untiedClassifierRoundTrips() {
    auto m = small_synth(false);
    QVERIFY(!m->weights.lm_head.is_same(m->weights.embedding));
    m->weights.layers[0].wv[0].zero_();  // all-zero groups: scale 0, no division by zero
    QTemporaryDir tmp;
    const std::string v0 = ostq_test::qstr(tmp.path()) + "/u0.bin", v2 = ostq_test::qstr(tmp.path()) + "/u2.bin";
    ExportReport r = write_llama2c_export(wrap(m), v0, llama2c_options(0));
    const std::string bytes = read_file(v0);
    int32_t vocab;
    std::memcpy(&vocab, bytes.data() + 20, 4);
    QCOMPARE(vocab, -100);
    auto back = llama2c_load(v0);
    QVERIFY(!back->config.tied_embeddings);
    expect_equal_weights(*m, *back);

    write_llama2c_export(wrap(m), v2, llama2c_options(2));
    QCOMPARE(static_cast<int>(read_file(v2)[36]), 0);
    auto back2 = llama2c_load(v2);
    QVERIFY(!back2->config.tied_embeddings);
    QCOMPARE(back2->weights.layers[0].wv[0].abs().max().item<float>(), 0.0f);
    const double head_err = (back2->weights.lm_head - m->weights.lm_head).abs().max().item<double>();
    QVERIFY(head_err <= m->weights.lm_head.abs().max().item<double>() / 254.0 * 1.001);
  }

  // (5) What llama2.c cannot run is refused with the reason, and no file is left behind.
  void inexpressibleModelsAreRefused() {
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/x.bin";
    Status s = export_status(wrap(small_synth(true, /*bias=*/true)), out, 0);
    QCOMPARE(s.code(), StatusCode::kInvalidInput);
    QVERIFY2(s.message().find("biases") != std::string::npos, s.message().c_str());
    QVERIFY(!file_exists(out));

    auto theta = small_synth(true);
    theta->config.rope_theta = 500000.0;
    s = export_status(wrap(theta), out, 2);
    QVERIFY2(s.message().find("rope_theta") != std::string::npos, s.message().c_str());

    QuantizedModel act = wrap(small_synth(true));
    act.config = quant_config_parse("4-4-16", act.model->config.head_dim).value();
    s = export_status(act, out, 0);
    QVERIFY2(s.message().find("activation") != std::string::npos, s.message().c_str());

    auto scaled = small_synth(true);
    scaled->config.rope_scaling.type = RopeScaling::Type::kLlama3;
    s = export_status(wrap(scaled), out, 0);
    QVERIFY2(s.message().find("rope_scaling") != std::string::npos, s.message().c_str());

    s = export_status(wrap(small_synth(true)), out, 1);
    QCOMPARE(s.code(), StatusCode::kInvalidInput);
    QVERIFY(!file_exists(out));
  }
};

QTEST_GUILESS_MAIN(TestExportLlama2c)
#include "tst_export_llama2c.moc"
