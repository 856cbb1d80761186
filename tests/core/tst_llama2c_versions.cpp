// SPDX-License-Identifier: Apache-2.0
// llama2.c v1 (fp32, "ak42") and v2 (Q8_0 groups) checkpoints written from stories260K load to
// the same model as the legacy v0 file: identical logits for v1, quantization-level for v2.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <fstream>

#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "test_data.h"

using namespace ostq;

namespace {

struct Writer {
  std::ofstream out;
  explicit Writer(const std::string& path) : out(path, std::ios::binary) {}
  void raw(const void* p, size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); }
  void f32(const at::Tensor& t) {
    at::Tensor c = t.to(at::kFloat).contiguous();
    raw(c.data_ptr(), c.numel() * 4);
  }
  // v2: int8 codes of the whole tensor, then one fp32 scale per group of gs (max|w|/127).
  void q8(const at::Tensor& t, int64_t gs) {
    at::Tensor g = t.to(at::kFloat).contiguous().view({-1, gs});
    at::Tensor scale = g.abs().amax(1) / 127.0f;
    at::Tensor codes = torch::round(g / scale.clamp_min(1e-30f).unsqueeze(1)).clamp(-127, 127).to(at::kChar).contiguous();
    raw(codes.data_ptr(), codes.numel());
    f32(scale);
  }
  void header(int version, const ModelConfig& c, int32_t gs) {
    uint8_t h[256] = {};
    uint32_t magic = 0x616b3432;
    int32_t fields[8] = {version, (int32_t)c.dim, (int32_t)c.hidden_dim, (int32_t)c.n_layers, (int32_t)c.n_heads,
                         (int32_t)c.n_kv_heads, (int32_t)c.vocab_size, (int32_t)c.max_seq_len};
    std::memcpy(h, &magic, 4);
    std::memcpy(h + 4, fields, 32);
    h[36] = 1;  // shared classifier
    std::memcpy(h + 37, &gs, 4);
    raw(h, 256);
  }
};

// W_q / W_k back in the interleaved (Meta) order llama2.c files store.
at::Tensor meta(const at::Tensor& w, int64_t heads, int64_t dh) {
  return rope_permute_rows(w, heads, dh, RopeLayout::kRotateHalf, RopeLayout::kInterleaved);
}

at::Tensor logits(const Model& m) {
  torch::NoGradGuard g;
  return model_forward(m, torch::arange(1, 101, torch::kLong).view({1, -1}));
}

}  // namespace

class TestLlama2cVersions : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void versionedFormatsMatchV0() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    auto v0 = model_load(src).value();
    const ModelConfig& c = v0->config;
    const ModelWeights& w = v0->weights;
    QTemporaryDir tmp;
    const std::string p1 = ostq_test::qstr(tmp.path()) + "/v1.bin", p2 = ostq_test::qstr(tmp.path()) + "/v2.bin";
    const int64_t gs = 4;  // gcd(64, 172) = 4: FORMATS.md §1.3
    auto stack = [&](auto get) {
      std::vector<at::Tensor> parts;
      for (const auto& l : w.layers) parts.push_back(get(l));
      return torch::stack(parts);
    };
    auto wq = [&](const LayerWeights& l) { return meta(l.wq, c.n_heads, c.head_dim); };
    auto wk = [&](const LayerWeights& l) { return meta(l.wk, c.n_kv_heads, c.head_dim); };
    {
      Writer f(p1);
      f.header(1, c, 0);
      f.f32(stack([](const LayerWeights& l) { return l.attn_norm; }));
      f.f32(stack([](const LayerWeights& l) { return l.ffn_norm; }));
      f.f32(w.final_norm);
      f.f32(w.embedding);
      f.f32(stack(wq));
      f.f32(stack(wk));
      f.f32(stack([](const LayerWeights& l) { return l.wv; }));
      f.f32(stack([](const LayerWeights& l) { return l.wo; }));
      f.f32(stack([](const LayerWeights& l) { return l.w_gate; }));
      f.f32(stack([](const LayerWeights& l) { return l.w_down; }));
      f.f32(stack([](const LayerWeights& l) { return l.w_up; }));
    }
    {
      Writer f(p2);
      f.header(2, c, gs);
      f.f32(stack([](const LayerWeights& l) { return l.attn_norm; }));
      f.f32(stack([](const LayerWeights& l) { return l.ffn_norm; }));
      f.f32(w.final_norm);
      f.q8(w.embedding, gs);
      for (const auto& l : w.layers) f.q8(wq(l), gs);
      for (const auto& l : w.layers) f.q8(wk(l), gs);
      for (const auto& l : w.layers) f.q8(l.wv, gs);
      for (const auto& l : w.layers) f.q8(l.wo, gs);
      for (const auto& l : w.layers) f.q8(l.w_gate, gs);
      for (const auto& l : w.layers) f.q8(l.w_down, gs);
      for (const auto& l : w.layers) f.q8(l.w_up, gs);
    }
    auto v1 = model_load(p1);
    QVERIFY2(v1.is_ok(), v1.status().to_string().c_str());
    QCOMPARE(v1.value()->config.source, SourceFormat::kLlama2cV1);
    QCOMPARE((logits(*v0) - logits(*v1.value())).abs().max().item<double>(), 0.0);

    auto v2 = model_load(p2);
    QVERIFY2(v2.is_ok(), v2.status().to_string().c_str());
    QCOMPARE(v2.value()->config.source, SourceFormat::kLlama2cV2);
    // Each weight within half a quantization step of the original (scale = max|group|/127).
    const double wdiff = (v2.value()->weights.layers[2].w_down - w.layers[2].w_down).abs().max().item<double>();
    QVERIFY2(wdiff <= w.layers[2].w_down.abs().max().item<double>() / 254.0 + 1e-7, qPrintable(QString::number(wdiff)));
    at::Tensor a = torch::log_softmax(logits(*v0), -1), b = torch::log_softmax(logits(*v2.value()), -1);
    const double kl = (a.exp() * (a - b)).sum(-1).mean().item<double>();
    QVERIFY2(kl < 0.01, qPrintable(QString::number(kl)));
  }
};

QTEST_GUILESS_MAIN(TestLlama2cVersions)
#include "tst_llama2c_versions.moc"
