// SPDX-License-Identifier: Apache-2.0
// GGUF export and reader: block codecs against hand-computed bytes, a hand-built minimal file and
// its invalid variants, stories260K W4 (Q4_0 + F16 ffn_down) written and reloaded, synthetic GQA
// models through every block type, a synthetic Qwen2 GQA model with q/k/v biases (architecture
// "qwen2": unpermuted q/k, F32 biases), damaged files (StatusError naming the file, never a crash),
// and what the format refuses.
//
// Tolerance: a reloaded linear differs from the in-memory quantized weight only by the fp16
// rounding of its block scales (and of m = −s·z for Q4_1), |ΔW| ≤ |W|·2^-11 per element, so
// symmetric types are checked at 1e-3·max|W|; Q4_1 rounds d and m separately and gets 4e-3.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/export/gguf_export.h"
#include "core/io/dtype.h"
#include "core/io/gguf_format.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/methods.h"
#include "test_data.h"

using namespace ostq;

namespace {

// RTN at `bits`; group ≥ 0 sets the weight group size (0 = per channel); mse = false skips the
// clip search (synthetic models: faster, and the grid does not matter for a round trip).
QuantizedModel quantize(const Model& m, const std::string& bits, int64_t group = -1,
                        const std::string& weight_override = "", bool mse = true) {
  QuantizeOptions o;
  o.method = method_spec_parse("rtn").value();
  o.config = quant_config_parse(bits, m.config.head_dim).value();
  if (!weight_override.empty() && !quant_config_override(o.config, weight_override).is_ok()) qFatal("override");
  if (group >= 0) o.config.weight.group_size = group;
  o.config.weight.mse_clip = o.config.weight.mse_clip && mse;
  Result<QuantizedModel> q = quantize_model(m, o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  return std::move(q).value();
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

GgufHeader parse_bytes(const std::string& bytes, const std::string& name = "mem.gguf") {
  return gguf_parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

at::Tensor logits(const Model& m, const at::Tensor& tokens) {
  torch::NoGradGuard g;
  return model_forward(m, tokens);
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

// Every tensor of `back` against the in-memory quantized model; *worst = the largest linear error
// relative to max|W|.
void compare_weights(const Model& back, const Model& ref, double linear_tol, double* worst) {
  *worst = 0;
  for (size_t i = 0; i < ref.weights.layers.size(); ++i) {
    const LayerWeights &b = back.weights.layers[i], &r = ref.weights.layers[i];
    QVERIFY2(torch::equal(b.attn_norm, r.attn_norm.to(at::kFloat)), "attn_norm not exact");
    QVERIFY2(torch::equal(b.ffn_norm, r.ffn_norm.to(at::kFloat)), "ffn_norm not exact");
    for (LinearId id : kLinearIds) {
      const double d = rel_diff(linear_weight(b, id), linear_weight(r, id).to(at::kFloat));
      QVERIFY2(d <= linear_tol, qPrintable(QString("layer %1 %2: %3").arg(i).arg(linear_name(id)).arg(d)));
      *worst = std::max(*worst, d);
    }
  }
  QVERIFY(torch::equal(back.weights.final_norm, ref.weights.final_norm.to(at::kFloat)));
  // token_embd is F16: exactly the fp16 rounding of the embedding.
  QVERIFY(torch::equal(back.weights.embedding, ref.weights.embedding.to(at::kHalf).to(at::kFloat)));
}

// A tiny model for the damaged-file scans (header ≈ 1 kB, loads in milliseconds).
QuantizedModel tiny_quantized() {
  SynthOptions o;
  o.dim = 64;
  o.hidden_dim = 64;
  o.n_layers = 1;
  o.n_heads = 2;
  o.n_kv_heads = 1;
  o.vocab_size = 32;
  o.max_seq_len = 16;
  return quantize(*synth_model(o), "4-16-16", -1, "", false);
}

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::string s;
  Bytes& u32(uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); return *this; }
  Bytes& u64(uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); return *this; }
  Bytes& str(const std::string& v) { u64(v.size()); s += v; return *this; }
};

// One F32 tensor "t" with dims {4, 2} at data offset `offset`, general.alignment 32, and
// `data_bytes` of data after the aligned header.
struct Minimal {
  uint32_t version = 3, n_dims = 2, type = 0;
  uint64_t dim0 = 4, offset = 0, data_bytes = 32;
  uint32_t alignment = 32;
  uint32_t alignment_type = 4;  // U32
  std::string build() const {
    Bytes b;
    b.u32(kGgufMagic).u32(version).u64(1).u64(2);
    b.str("general.architecture").u32(8).str("llama");
    b.str("general.alignment").u32(alignment_type).u32(alignment);
    b.str("t").u32(n_dims);
    for (uint32_t i = 0; i < n_dims; ++i) b.u64(i == 0 ? dim0 : 2);
    b.u32(type).u64(offset);
    b.s.resize((b.s.size() + 31) / 32 * 32, '\0');
    for (uint64_t i = 0; i < data_bytes / 4; ++i) {
      const float f = static_cast<float>(i) * 0.5f;
      b.s.append(reinterpret_cast<const char*>(&f), 4);
    }
    return b.s;
  }
};

void expect_error(const std::string& bytes, const char* what, const char* needle = nullptr) {
  try {
    parse_bytes(bytes, "hand.gguf");
    QFAIL(qPrintable(QString("no error for ") + what));
  } catch (const StatusError& e) {
    const std::string m = e.status().message();
    QVERIFY2(m.find("hand.gguf") != std::string::npos, m.c_str());
    if (needle != nullptr) QVERIFY2(m.find(needle) != std::string::npos, qPrintable(QString(what) + ": " + m.c_str()));
  }
}

// gguf_load must either succeed or throw StatusError naming the file; anything else fails.
bool load_fails_cleanly(const std::string& path, std::string* message = nullptr) {
  try {
    gguf_load(path);
    return false;
  } catch (const StatusError& e) {
    if (message != nullptr) *message = e.status().message();
    return e.status().message().find(path) != std::string::npos;
  }
}

}  // namespace

class TestExportGguf : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void blockCodecsMatchHandComputedValues() {
    // Q4_0 transcode: codes c_j = j − 8 (j < 16) and 7 − j (second half), scale 0.25.
    int8_t codes[32];
    for (int j = 0; j < 16; ++j) {
      codes[j] = static_cast<int8_t>(j - 8);
      codes[j + 16] = static_cast<int8_t>(7 - j);
    }
    uint8_t q40[kQ4_0Bytes];
    q4_0_pack(codes, 0.25f, q40);
    QCOMPARE(int(q40[0]), 0x00);  // fp16(0.25) = 0x3400, little-endian
    QCOMPARE(int(q40[1]), 0x34);
    // Low nibble = element j (nibble j), high nibble = element j + 16 (nibble 15 − j).
    QCOMPARE(int(q40[2]), 0xF0);
    QCOMPARE(int(q40[3]), 0xE1);
    QCOMPARE(int(q40[17]), 0x0F);
    float y[32];
    ggml_dequantize(GgmlType::kQ4_0, q40, y, 32);
    for (int j = 0; j < 32; ++j) QCOMPARE(y[j], 0.25f * codes[j]);
    // A hand-made block: d = 0.5 (0x3800), qs[0] = 0x1F → x0 = 0.5·(15 − 8), x16 = 0.5·(1 − 8).
    uint8_t hand[kQ4_0Bytes] = {0x00, 0x38, 0x1F};
    ggml_dequantize(GgmlType::kQ4_0, hand, y, 32);
    QCOMPARE(y[0], 3.5f);
    QCOMPARE(y[16], -3.5f);
    QCOMPARE(y[1], -4.0f);  // nibble 0

    // ggml's Q4_0 quantizer: the largest-magnitude value +8 gives d = 8 / −8 = −1 (0xBC00);
    // x = 8 → trunc(−8 + 8.5) = 0 → −1·(0 − 8) = 8; x = −3 → trunc(3 + 8.5) = 11 → −3.
    float x[32] = {};
    x[0] = 8.0f;
    x[1] = -3.0f;
    x[16] = 1.0f;
    q4_0_quantize(x, q40, 32);
    QCOMPARE(int(q40[0]), 0x00);
    QCOMPARE(int(q40[1]), 0xBC);
    QCOMPARE(int(q40[2]), 0x0 | (7 << 4));  // element 0 → 0, element 16: trunc(−1 + 8.5) = 7
    QCOMPARE(int(q40[3]), 11 | (8 << 4));   // element 1 → 11, element 17 (0) → 8
    ggml_dequantize(GgmlType::kQ4_0, q40, y, 32);
    for (int j = 0; j < 32; ++j) QCOMPARE(y[j], x[j]);

    // Q4_1: x_j = (j mod 16) + 1 → min 1, max 16, d = 15/15 = 1, m = 1, nibble = j mod 16.
    for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 + 1);
    uint8_t q41[kQ4_1Bytes];
    q4_1_quantize(x, q41, 32);
    QCOMPARE(int(q41[1]), 0x3C);  // d = 1.0
    QCOMPARE(int(q41[3]), 0x3C);  // m = 1.0
    QCOMPARE(int(q41[4]), 0x00);
    QCOMPARE(int(q41[5]), 0x11);
    QCOMPARE(int(q41[19]), 0xFF);
    ggml_dequantize(GgmlType::kQ4_1, q41, y, 32);
    for (int j = 0; j < 32; ++j) QCOMPARE(y[j], x[j]);
    // Q4_1 transcode: asymmetric codes with zero 3 and scale 2: m = −6 (0xC600).
    for (int j = 0; j < 32; ++j) codes[j] = static_cast<int8_t>(j % 16);
    q4_1_pack(codes, 2.0f, 3.0f, q41);
    QCOMPARE(int(q41[1]), 0x40);
    QCOMPARE(int(q41[2]), 0x00);
    QCOMPARE(int(q41[3]), 0xC6);
    ggml_dequantize(GgmlType::kQ4_1, q41, y, 32);
    for (int j = 0; j < 32; ++j) QCOMPARE(y[j], 2.0f * (j % 16 - 3));

    // Q8_0: amax 127 → d = 1 (0x3C00) and q = x; transcode keeps −128.
    for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j * 8 - 127);
    uint8_t q80[kQ8_0Bytes];
    q8_0_quantize(x, q80, 32);
    QCOMPARE(int(q80[1]), 0x3C);
    QCOMPARE(int(static_cast<int8_t>(q80[2])), -127);
    QCOMPARE(int(static_cast<int8_t>(q80[33])), 121);
    for (int j = 0; j < 32; ++j) codes[j] = static_cast<int8_t>(j == 0 ? -128 : j);
    q8_0_pack(codes, 0.5f, q80);
    ggml_dequantize(GgmlType::kQ8_0, q80, y, 32);
    QCOMPARE(y[0], -64.0f);
    QCOMPARE(y[31], 15.5f);
    // Codes outside the nibble range are a bug, not silently wrapped.
    codes[0] = 8;
    QVERIFY_EXCEPTION_THROWN(q4_0_pack(codes, 1.0f, q40), StatusError);
  }

  void handBuiltMinimalFileParses() {
    const std::string ok = Minimal{}.build();
    const GgufHeader h = parse_bytes(ok);
    QCOMPARE(h.version, 3u);
    QCOMPARE(h.alignment, 32u);
    QCOMPARE(h.find("general.architecture")->str, std::string("llama"));
    const GgufTensorInfo* t = h.find_tensor("t");
    QVERIFY(t != nullptr);
    QCOMPARE(t->torch_shape(), (std::vector<int64_t>{2, 4}));
    QCOMPARE(t->nbytes, uint64_t{32});
    QCOMPARE(t->offset, h.data_start);
    float y[8];
    ggml_dequantize(t->type, reinterpret_cast<const uint8_t*>(ok.data()) + t->offset, y, 8);
    QCOMPARE(y[7], 3.5f);

    auto variant = [](auto edit) {
      Minimal m;
      edit(m);
      return m.build();
    };
    expect_error(variant([](Minimal& m) { m.version = 1; }), "version 1", "version 1");
    expect_error(variant([](Minimal& m) { m.n_dims = 5; }), "n_dims 5", "n_dims 5");
    expect_error(variant([](Minimal& m) { m.type = 99; }), "type 99", "ggml type 99");
    expect_error(variant([](Minimal& m) { m.offset = 8; }), "misaligned", "alignment");
    expect_error(variant([](Minimal& m) { m.offset = 32; }), "past the end", "past the end");
    expect_error(variant([](Minimal& m) { m.data_bytes = 28; }), "short data", "past the end");
    expect_error(variant([](Minimal& m) { m.type = 8; m.dim0 = 4; }), "Q8_0 dims[0] = 4", "block size");
    expect_error(variant([](Minimal& m) { m.alignment = 24; }), "alignment 24", "power of two");
    expect_error(variant([](Minimal& m) { m.alignment_type = 5; }), "alignment I32", "expected U32");
    std::string bad = ok;
    bad[0] = 'X';
    expect_error(bad, "magic", "not a GGUF file");
    // Huge counts and lengths are rejected before any allocation.
    const std::pair<size_t, const char*> fields[] = {{8, "tensor count"}, {16, "metadata count"}, {24, "truncated"}};
    for (const auto& [field, needle] : fields) {
      bad = ok;
      const uint64_t huge = uint64_t{1} << 62;
      std::memcpy(&bad[field], &huge, 8);
      expect_error(bad, needle, needle);
    }
  }

  void stories260KRoundTrip() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.model");
    OSTQ_REQUIRE_SHARED(tok_bin_path, "models/tok512.bin");
    auto m = model_load(model_path).value();
    QuantizedModel q = quantize(*m, "4-16-16");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/stories260K-q4.gguf";
    ExportOptions o;
    o.format = ExportFormat::kGguf;
    o.tokenizer_path = tok_path;
    o.source = "bundle/stories260K-rtn";
    const ExportReport rep = write_gguf_export(q, out, o);
    QCOMPARE(rep.path, out);
    QVERIFY(rep.format == ExportFormat::kGguf);
    QVERIFY(is_gguf_file(out));
    QVERIFY(!is_gguf_file(model_path));
    bool down_note = false;
    for (const auto& n : rep.notes) down_note |= n.find("ffn_down stored as F16") != std::string::npos;
    QVERIFY(down_note);

    // File contents: types, metadata, tokenizer, Meta-order q/k.
    const std::string bytes = read_bytes(out);
    const GgufHeader h = parse_bytes(bytes, out);
    QCOMPARE(h.find("general.file_type")->as_int(), int64_t{2});
    QCOMPARE(h.find("general.alignment")->as_int(), int64_t{32});
    QCOMPARE(h.find("llama.attention.head_count_kv")->as_int(), int64_t{4});
    QCOMPARE(h.find("llama.rope.dimension_count")->as_int(), int64_t{8});
    QCOMPARE(h.find("ostq.method")->str, std::string("rtn"));
    QCOMPARE(h.find("ostq.source")->str, o.source);
    QCOMPARE(h.find("ostq.bits")->str, std::string("4-16-16"));
    QVERIFY(h.find_tensor("blk.0.attn_q.weight")->type == GgmlType::kQ4_0);
    QVERIFY(h.find_tensor("blk.4.ffn_down.weight")->type == GgmlType::kF16);
    QVERIFY(h.find_tensor("token_embd.weight")->type == GgmlType::kF16);
    QVERIFY(h.find_tensor("blk.0.attn_norm.weight")->type == GgmlType::kF32);
    QVERIFY(h.find_tensor("output.weight") == nullptr);  // stories260K shares its classifier
    QCOMPARE(h.find_tensor("blk.0.ffn_gate.weight")->dims, (std::vector<uint64_t>{64, 172}));
    const GgufValue* tokens = h.find("tokenizer.ggml.tokens");
    QCOMPARE(tokens->strings.size(), size_t{512});
    QCOMPARE(tokens->strings[1], std::string("<s>"));
    QCOMPARE(tokens->strings[3], std::string("<0x00>"));
    QCOMPARE(h.find("tokenizer.ggml.token_type")->array_as_int()[3], int64_t{6});
    QCOMPARE(h.find("tokenizer.ggml.token_type")->array_as_int()[1], int64_t{3});
    QCOMPARE(h.find("tokenizer.ggml.bos_token_id")->as_int(), int64_t{1});
    QVERIFY(h.find("tokenizer.ggml.add_bos_token")->as_bool());
    const GgufTensorInfo* tq = h.find_tensor("blk.0.attn_q.weight");
    at::Tensor file_q = torch::empty({64, 64});
    ggml_dequantize(tq->type, reinterpret_cast<const uint8_t*>(bytes.data()) + tq->offset, file_q.data_ptr<float>(), tq->numel);
    const at::Tensor wq = q.model->weights.layers[0].wq;
    QVERIFY(rel_diff(file_q, rope_permute_rows(wq, 8, 8, RopeLayout::kRotateHalf, RopeLayout::kInterleaved)) < 1e-3);
    QVERIFY(rel_diff(file_q, wq) > 0.1);  // the permutation is not the identity

    // Reload: weights within fp16 scale rounding, norms exact, logits close.
    std::shared_ptr<Model> back = gguf_load(out);
    QCOMPARE(back->config.vocab_size, int64_t{512});
    QCOMPARE(back->config.hidden_dim, int64_t{172});
    QCOMPARE(back->config.n_kv_heads, int64_t{4});
    QVERIFY(back->config.tied_embeddings);
    QVERIFY(back->weights.lm_head.is_same(back->weights.embedding));
    double worst = 0;
    compare_weights(*back, *q.model, 1e-3, &worst);
    if (QTest::currentTestFailed()) return;
    at::Generator gen = at::detail::createCPUGenerator(5);
    const at::Tensor toks = torch::randint(3, 512, {2, 64}, gen, torch::kLong);
    const at::Tensor ref = logits(*q.model, toks), got = logits(*back, toks);
    const double dl = rel_diff(got, ref);
    qInfo("stories260K W4 per-channel: max linear error %.2e of max|W|, logits max diff %.2e of max|logit|", worst, dl);
    QVERIFY2(dl < 5e-3, qPrintable(QString::number(dl)));

    // The llama2.c .bin vocabulary gives the same tokenizer metadata as the .model file.
    const std::string out_bin = ostq_test::qstr(tmp.path()) + "/from-bin.gguf";
    o.tokenizer_path = tok_bin_path;
    write_gguf_export(q, out_bin, o);
    const std::string bytes_bin = read_bytes(out_bin);
    const GgufHeader hb = parse_bytes(bytes_bin, out_bin);
    QCOMPARE(hb.find("tokenizer.ggml.tokens")->strings, tokens->strings);
    QCOMPARE(hb.find("tokenizer.ggml.token_type")->array_as_int(), h.find("tokenizer.ggml.token_type")->array_as_int());
    QCOMPARE(hb.find("tokenizer.ggml.scores")->array_as_double(), h.find("tokenizer.ggml.scores")->array_as_double());
  }

  void syntheticGqaRoundTrips() {
    struct Case {
      const char* bits;
      int64_t group;
      const char* override_spec;
      GgmlType type;
      bool tied;
      double tol;
      bool llama3;
    };
    const Case cases[] = {
        {"4-16-16", 32, "", GgmlType::kQ4_0, true, 1e-3, false},
        {"4-16-16", -1, "weight=4:g64:asym", GgmlType::kQ4_1, false, 4e-3, true},
        {"8-16-16", 0, "", GgmlType::kQ8_0, false, 1e-3, false},
        {"4-16-16", -1, "weight=6:g32:asym", GgmlType::kQ8_0, true, 1e-3, false},
        {"16-16-16", -1, "", GgmlType::kF16, false, 1e-3, false},
    };
    QTemporaryDir tmp;
    for (const Case& k : cases) {
      SynthOptions so;
      so.dim = 64;
      so.hidden_dim = 128;
      so.n_layers = 2;
      so.n_heads = 4;
      so.n_kv_heads = 2;
      so.vocab_size = 256;
      so.max_seq_len = 128;
      so.tied_embeddings = k.tied;
      auto m = synth_model(so);
      if (k.llama3) {
        m->config.rope_scaling.type = RopeScaling::Type::kLlama3;
        m->config.rope_scaling.factor = 8.0;
        m->config.rope_scaling.original_max_position_embeddings = 32;  // d_h = 16: all three bands
      }
      QuantizedModel q = quantize(*m, k.bits, k.group, k.override_spec, /*mse=*/false);
      const std::string out = ostq_test::qstr(tmp.path()) + "/synth-" + ggml_type_name(k.type) + k.bits + ".gguf";
      const ExportReport rep = write_gguf_export(q, out, {});
      QVERIFY(!rep.notes.empty());  // no tokenizer given
      const std::string bytes = read_bytes(out);
      const GgufHeader h = parse_bytes(bytes, out);
      for (const GgufTensorInfo& t : h.tensors) {
        if (t.name.find("attn_") != std::string::npos && t.name.find("norm") == std::string::npos) {
          QVERIFY2(t.type == k.type, qPrintable(QString::fromStdString(t.name) + " " + ggml_type_name(t.type)));
        }
      }
      QCOMPARE(h.find_tensor("output.weight") == nullptr, k.tied);
      QCOMPARE(h.find_tensor("rope_freqs.weight") != nullptr, k.llama3);

      std::shared_ptr<Model> back = gguf_load(out);
      const ModelConfig &a = back->config, &b = q.model->config;
      QCOMPARE(a.dim, b.dim);
      QCOMPARE(a.hidden_dim, b.hidden_dim);
      QCOMPARE(a.n_kv_heads, b.n_kv_heads);
      QCOMPARE(a.head_dim, b.head_dim);
      QCOMPARE(a.max_seq_len, b.max_seq_len);
      QCOMPARE(a.rope_theta, b.rope_theta);
      QVERIFY(a.rope_scaling == b.rope_scaling);
      QCOMPARE(a.tied_embeddings, k.tied);
      QVERIFY(std::abs(a.norm_eps - b.norm_eps) < 1e-6 * b.norm_eps);
      double worst = 0;
      compare_weights(*back, *q.model, k.tol, &worst);
      if (QTest::currentTestFailed()) return;
      if (!k.tied) QVERIFY(torch::equal(back->weights.lm_head, q.model->weights.lm_head.to(at::kHalf).to(at::kFloat)));
      const at::Tensor toks = torch::randint(3, 256, {1, 48}, torch::kLong);
      const double dl = rel_diff(logits(*back, toks), logits(*q.model, toks));
      qInfo("synthetic GQA %s %s -> %s: max linear error %.2e, logits %.2e", k.bits, k.override_spec,
            ggml_type_name(k.type), worst, dl);
      QVERIFY2(dl < 1e-2, qPrintable(QString::number(dl)));
    }
  }

  void syntheticQwen2RoundTrips() {
    SynthOptions so;
    so.arch = Architecture::kQwen2;
    so.dim = 128;
    so.hidden_dim = 256;
    so.n_layers = 2;
    so.n_heads = 4;  // d_h = 32
    so.n_kv_heads = 2;
    so.vocab_size = 256;
    so.max_seq_len = 128;
    so.rope_theta = 1000000.0;
    auto m = synth_model(so);
    QVERIFY(m->config.qkv_bias);
    QuantizedModel q = quantize(*m, "4-16-16", 32, "", /*mse=*/false);
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/qwen2-q4.gguf";
    const ExportReport rep = write_gguf_export(q, out, {});
    QVERIFY(!rep.notes.empty());  // no tokenizer given

    // Metadata: qwen2 architecture and key prefix, no llama.* keys.
    const std::string bytes = read_bytes(out);
    const GgufHeader h = parse_bytes(bytes, out);
    QCOMPARE(h.find("general.architecture")->str, std::string("qwen2"));
    for (const char* k : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                          "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                          "attention.layer_norm_rms_epsilon"}) {
      QVERIFY2(h.find(std::string("qwen2.") + k) != nullptr, k);
      QVERIFY2(h.find(std::string("llama.") + k) == nullptr, k);
    }
    QCOMPARE(h.find("qwen2.attention.head_count_kv")->as_int(), int64_t{2});
    QCOMPARE(h.find("qwen2.rope.freq_base")->as_double(), 1000000.0);
    QCOMPARE(h.find("general.file_type")->as_int(), int64_t{2});

    // Biases: F32, exactly the model's; linears Q4_0; q/k rows NOT permuted (NEOX RoPE in llama.cpp).
    auto file_tensor = [&](const std::string& name) {
      const GgufTensorInfo* t = h.find_tensor(name);
      if (t == nullptr) qFatal("missing %s", name.c_str());
      at::Tensor x = torch::empty(t->torch_shape(), torch::kFloat32);
      ggml_dequantize(t->type, reinterpret_cast<const uint8_t*>(bytes.data()) + t->offset, x.data_ptr<float>(),
                      t->numel);
      return x;
    };
    const int64_t dh = q.model->config.head_dim;
    for (int64_t i = 0; i < so.n_layers; ++i) {
      const LayerWeights& l = q.model->weights.layers[i];
      const std::pair<const char*, const at::Tensor*> biases[] = {
          {"attn_q", &l.bq}, {"attn_k", &l.bk}, {"attn_v", &l.bv}};
      for (const auto& [what, b] : biases) {
        const std::string name = "blk." + std::to_string(i) + "." + what + ".bias";  // F32, [out]
        QVERIFY2(h.find_tensor(name) != nullptr && h.find_tensor(name)->type == GgmlType::kF32, name.c_str());
        QCOMPARE(h.find_tensor(name)->dims, (std::vector<uint64_t>{static_cast<uint64_t>(b->numel())}));
        QVERIFY2(torch::equal(file_tensor(name), b->to(at::kFloat)), name.c_str());
      }
      const std::string blk = "blk." + std::to_string(i) + ".";
      QVERIFY(h.find_tensor(blk + "attn_q.weight")->type == GgmlType::kQ4_0);
      const at::Tensor fq = file_tensor(blk + "attn_q.weight"), fk = file_tensor(blk + "attn_k.weight");
      QVERIFY(rel_diff(fq, l.wq) < 1e-3);
      QVERIFY(rel_diff(fk, l.wk) < 1e-3);
      // The Meta (llama) order would differ: the check above is not vacuous.
      const RopeLayout half = RopeLayout::kRotateHalf, meta = RopeLayout::kInterleaved;
      QVERIFY(rel_diff(fq, rope_permute_rows(l.wq, so.n_heads, dh, half, meta)) > 0.1);
      QVERIFY(rel_diff(fk, rope_permute_rows(l.wk, so.n_kv_heads, dh, half, meta)) > 0.1);
    }
    QVERIFY(h.find_tensor("rope_freqs.weight") == nullptr);

    // Reload: the same config (up to the f32 epsilon and the name), exact biases, close weights and logits.
    std::shared_ptr<Model> back = gguf_load(out);
    ModelConfig a = back->config;
    const ModelConfig& b = q.model->config;
    QVERIFY(a.arch == Architecture::kQwen2);
    QVERIFY(a.qkv_bias);
    QVERIFY(std::abs(a.norm_eps - b.norm_eps) < 1e-6 * b.norm_eps);
    a.norm_eps = b.norm_eps;
    a.name = b.name;
    QVERIFY2(a == b, qPrintable(QString::fromStdString(a.summary() + " vs " + b.summary())));
    for (int64_t i = 0; i < so.n_layers; ++i) {
      const LayerWeights &lb = back->weights.layers[i], &lr = q.model->weights.layers[i];
      QVERIFY(torch::equal(lb.bq, lr.bq.to(at::kFloat)));
      QVERIFY(torch::equal(lb.bk, lr.bk.to(at::kFloat)));
      QVERIFY(torch::equal(lb.bv, lr.bv.to(at::kFloat)));
    }
    double worst = 0;
    compare_weights(*back, *q.model, 1e-3, &worst);
    if (QTest::currentTestFailed()) return;
    QVERIFY(torch::equal(back->weights.lm_head, q.model->weights.lm_head.to(at::kHalf).to(at::kFloat)));
    at::Generator gen = at::detail::createCPUGenerator(11);
    const at::Tensor toks = torch::randint(3, 256, {2, 48}, gen, torch::kLong);
    const double dl = rel_diff(logits(*back, toks), logits(*q.model, toks));
    qInfo("synthetic qwen2 GQA W4 g32 -> Q4_0: max linear error %.2e, logits %.2e", worst, dl);
    QVERIFY2(dl < 1e-2, qPrintable(QString::number(dl)));
  }

  void damagedFilesFailCleanly() {
    QuantizedModel q = tiny_quantized();
    QTemporaryDir tmp;
    const std::string good = ostq_test::qstr(tmp.path()) + "/tiny.gguf";
    write_gguf_export(q, good, {});
    const std::string bytes = read_bytes(good);
    const GgufHeader h = parse_bytes(bytes, good);
    const std::string bad = ostq_test::qstr(tmp.path()) + "/bad.gguf";
    std::string msg;

    for (size_t cut : {size_t{0}, size_t{3}, size_t{4}, size_t{8}, size_t{20}, size_t{24}, size_t{40},
                       size_t{h.data_start / 2}, size_t{h.data_start - 1}, size_t{h.data_start},
                       size_t{h.data_start + 1}, bytes.size() / 2, bytes.size() - 1}) {
      write_bytes(bad, bytes.substr(0, cut));
      QVERIFY2(load_fails_cleanly(bad, &msg), qPrintable(QString("cut at %1: %2").arg(cut).arg(msg.c_str())));
    }
    std::string b = bytes;
    b[0] = 'g';
    write_bytes(bad, b);
    QVERIFY(!is_gguf_file(bad));
    QVERIFY(load_fails_cleanly(bad, &msg) && msg.find("not a GGUF file") != std::string::npos);
    b = bytes;
    b[4] = 1;  // version 1
    write_bytes(bad, b);
    QVERIFY(load_fails_cleanly(bad, &msg) && msg.find("version") != std::string::npos);
    QVERIFY(load_fails_cleanly(ostq_test::qstr(tmp.path()) + "/missing.gguf"));

    // Every header byte replaced by 0xFF, then by 0x00, one at a time: an error naming the file
    // or (when the byte did not matter, e.g. inside a string) a successful load — never a crash.
    int failures = 0, loads = 0;
    for (size_t p = 0; p < h.data_start; ++p) {
      for (char v : {'\xFF', '\x00'}) {
        if (bytes[p] == v) continue;
        b = bytes;
        b[p] = v;
        write_bytes(bad, b);
        try {
          gguf_load(bad);
          ++loads;
        } catch (const StatusError& e) {
          ++failures;
          QVERIFY2(e.status().message().find(bad) != std::string::npos, e.status().message().c_str());
        }
      }
    }
    qInfo("header byte corruption: %d errors, %d harmless loads over %llu header bytes", failures, loads,
          static_cast<unsigned long long>(h.data_start));
    QVERIFY(failures > 0);
  }

  void refusesWhatGgufCannotExpress() {
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/refused.gguf";
    auto expect_refusal = [&](const QuantizedModel& q, const ExportOptions& o, StatusCode code, const char* needle) {
      try {
        write_gguf_export(q, out, o);
        QFAIL("no error");
      } catch (const StatusError& e) {
        QCOMPARE(e.status().code(), code);
        QVERIFY2(e.status().message().find(needle) != std::string::npos, e.status().message().c_str());
      }
      QVERIFY(!file_exists(out));
      QVERIFY(QDir(tmp.path()).entryList(QDir::Files).isEmpty());  // no temporary left behind
    };
    SynthOptions so;
    so.dim = 64;
    so.hidden_dim = 64;
    so.n_layers = 1;
    so.n_heads = 2;
    so.vocab_size = 64;
    so.max_seq_len = 16;
    // q/k/v biases only exist in GGUF qwen2: a llama or mistral model with biases is refused.
    so.qkv_bias = true;
    for (Architecture arch : {Architecture::kLlama, Architecture::kMistral}) {
      so.arch = arch;
      expect_refusal(quantize(*synth_model(so), "4-16-16", -1, "", false), {}, StatusCode::kUnsupported, "biases");
    }
    // llama.cpp's qwen2 has no rope_freqs tensor: llama3 RoPE scaling cannot be written for it.
    so.arch = Architecture::kQwen2;
    QuantizedModel scaled = quantize(*synth_model(so), "4-16-16", -1, "", false);
    scaled.model->config.rope_scaling.type = RopeScaling::Type::kLlama3;
    expect_refusal(scaled, {}, StatusCode::kUnsupported, "qwen2");
    so.qkv_bias = false;
    so.arch = Architecture::kLlama;
    auto m = synth_model(so);
    expect_refusal(quantize(*m, "4-4-16", -1, "", false), {}, StatusCode::kUnsupported, "activation");
    QuantizedModel online = quantize(*m, "4-16-16", -1, "", false);
    online.model->online.ffn = true;
    expect_refusal(online, {}, StatusCode::kUnsupported, "online Hadamard");
    const std::string tok = ostq_test::shared_path("models/tok512.model");
    if (file_exists(tok)) {  // 512 pieces for a 64-token model
      ExportOptions o;
      o.tokenizer_path = tok;
      expect_refusal(quantize(*m, "4-16-16", -1, "", false), o, StatusCode::kInvalidInput, "tok512.model");
    }
    // Cancelling through the progress callback leaves nothing behind.
    ExportOptions cancel;
    int calls = 0;
    cancel.progress = [&](const Progress&) { return ++calls < 5; };
    expect_refusal(quantize(*m, "4-16-16", -1, "", false), cancel, StatusCode::kCancelled, "cancel");
    // A tokenizer.json is not converted: no tokenizer keys, and a note says so.
    ExportOptions o;
    o.tokenizer_path = "/nonexistent/tokenizer.json";
    const ExportReport rep = write_gguf_export(quantize(*m, "4-16-16", -1, "", false), out, o);
    QVERIFY(rep.notes.back().find("tokenizer.json") != std::string::npos);
    QVERIFY(parse_bytes(read_bytes(out)).find("tokenizer.ggml.tokens") == nullptr);
  }
};

QTEST_GUILESS_MAIN(TestExportGguf)
#include "tst_export_gguf.moc"
