// SPDX-License-Identifier: Apache-2.0
// GPTQ and compressed-tensors exports (FORMATS.md §6.1, §6.2) and their reader: hand-computed
// int32 words for both nibble orders, stories260K and a GQA Qwen2-style model with biases
// exported and reloaded (compressed-tensors bit-exact with fp32 scales, GPTQ within the fp16
// rounding of its scales), act-order g_idx and real zeros in the reader, damaged directories
// reported as StatusErrors naming the file, and asymmetric grids refused by GPTQ.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/engine/runtime.h"
#include "core/export/compressed_tensors_export.h"
#include "core/export/gptq_export.h"
#include "core/export/packed_common.h"
#include "core/export/packed_hf_load.h"
#include "core/io/safetensors.h"
#include "core/model/hf_writer.h"
#include "core/model/synth.h"
#include "test_data.h"

using namespace ostq;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Per-tensor tolerance for GPTQ: fp16 scales (and fp16 dense tensors) round by ≤ 2^-11 relative;
// 1e-3 of the tensor's largest magnitude leaves a 2× margin.
constexpr double kFp16Tolerance = 1e-3;

QuantizedModel quantize_or_fail(const Model& m, const std::string& bits, const std::string& weight_override = "") {
  QuantizeOptions o;
  o.method = method_spec_parse("rtn").value();
  o.config = quant_config_parse(bits, m.config.head_dim).value();
  // The synthetic models skip the MSE clip search: the grid's shape matters here, not its quality.
  if (!weight_override.empty() && !quant_config_override(o.config, weight_override + ":nomse").is_ok()) {
    qFatal("bad override %s", weight_override.c_str());
  }
  Result<QuantizedModel> q = quantize_model(m, o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  return std::move(q).value();
}

std::shared_ptr<Model> gqa_bias_model() {
  SynthOptions o;
  o.arch = Architecture::kQwen2;
  o.dim = 256;
  o.hidden_dim = 512;
  o.n_layers = 2;
  o.n_heads = 4;
  o.n_kv_heads = 2;
  o.vocab_size = 384;
  o.max_seq_len = 128;
  o.seed = 11;
  return synth_model(o);
}

ExportOptions options(ExportFormat f, const std::string& tokenizer = "") {
  ExportOptions o;
  o.format = f;
  o.tokenizer_path = tokenizer;
  return o;
}

// Every tensor of two models by name; `rel` is max|a − b| / max|a|.
template <typename Fn>
void for_each_weight(const Model& a, const Model& b, Fn fn) {
  fn("embedding", a.weights.embedding, b.weights.embedding, false);
  fn("final_norm", a.weights.final_norm, b.weights.final_norm, false);
  fn("lm_head", a.weights.lm_head, b.weights.lm_head, false);
  for (size_t i = 0; i < a.weights.layers.size(); ++i) {
    const LayerWeights &x = a.weights.layers[i], &y = b.weights.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    fn(p + "attn_norm", x.attn_norm, y.attn_norm, false);
    fn(p + "ffn_norm", x.ffn_norm, y.ffn_norm, false);
    for (LinearId id : kLinearIds) fn(p + linear_name(id), linear_weight(x, id), linear_weight(y, id), true);
    for (LinearId id : {LinearId::kQ, LinearId::kK, LinearId::kV}) {
      fn(p + linear_name(id) + " bias", linear_bias(x, id), linear_bias(y, id), false);
    }
  }
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).abs().max().item<double>() / std::max(x.abs().max().item<double>(), 1e-30);
}

// Compressed-tensors with fp32 scales: every tensor identical.
void expect_bit_exact(const Model& evaluated, const Model& loaded) {
  for_each_weight(evaluated, loaded, [](const std::string& name, const at::Tensor& a, const at::Tensor& b, bool) {
    QCOMPARE(a.defined(), b.defined());
    if (a.defined()) QVERIFY2(torch::equal(a.to(at::kFloat), b), name.c_str());
  });
}

// GPTQ: every tensor within the fp16 tolerance; returns the largest relative difference.
double expect_within_fp16(const Model& evaluated, const Model& loaded) {
  double worst = 0.0;
  for_each_weight(evaluated, loaded, [&](const std::string& name, const at::Tensor& a, const at::Tensor& b, bool) {
    QCOMPARE(a.defined(), b.defined());
    if (!a.defined()) return;
    const double d = rel_diff(a, b);
    worst = std::max(worst, d);
    QVERIFY2(d <= kFp16Tolerance, qPrintable(QString("%1: %2").arg(QString::fromStdString(name)).arg(d)));
  });
  return worst;
}

std::shared_ptr<Model> load_or_fail(const std::string& dir) {
  Result<std::shared_ptr<Model>> m = status_guard([&] { return packed_hf_load(dir); });
  if (!m.is_ok()) qFatal("%s", m.status().to_string().c_str());
  return m.value();
}

// The load must fail with a StatusError (not an internal error or a crash) mentioning each word.
void expect_load_error(const std::string& dir, const std::vector<std::string>& words) {
  Result<std::shared_ptr<Model>> m = status_guard([&] { return packed_hf_load(dir); });
  QVERIFY2(!m.is_ok(), dir.c_str());
  const Status& s = m.status();
  QVERIFY2(s.code() == StatusCode::kInvalidInput || s.code() == StatusCode::kUnsupported ||
               s.code() == StatusCode::kIoError,
           s.to_string().c_str());
  for (const std::string& w : words) {
    QVERIFY2(s.message().find(w) != std::string::npos, qPrintable(QString::fromStdString(s.message() + " lacks " + w)));
  }
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

void write_json(const std::string& path, const json& j) {
  std::ofstream(path, std::ios::trunc) << j.dump(2);
}

// Rewrites <dir>/model.safetensors with `replace` (name → tensor, dtype) applied and `drop` left out.
void rewrite_tensors(const std::string& dir, const std::map<std::string, std::pair<at::Tensor, DType>>& replace,
                     const std::set<std::string>& drop = {}) {
  const std::string path = path_join(dir, "model.safetensors");
  std::vector<at::Tensor> owned;
  std::vector<TensorToWrite> out;
  {
    SafetensorsFile f = SafetensorsFile::open(path);
    for (const TensorInfo& t : f.header().tensors) {
      if (drop.count(t.name)) continue;
      at::Tensor x = torch::empty(t.shape, at::TensorOptions().dtype(scalar_type_of_any(t.dtype)));
      std::memcpy(x.data_ptr(), f.tensor_data(t), t.nbytes);
      DType d = t.dtype;
      if (auto it = replace.find(t.name); it != replace.end()) {
        x = it->second.first.contiguous();
        d = it->second.second;
      }
      owned.push_back(x);
      out.push_back({t.name, d, x.sizes().vec(), x.data_ptr(), static_cast<uint64_t>(x.nbytes())});
    }
  }
  safetensors_write(path, out, {{"format", "pt"}});
}

std::string copy_dir(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

QuantizedLinear hand_linear(int bits, bool symmetric, const at::Tensor& codes, int64_t n_groups = 1) {
  QuantizedLinear l;
  l.bits = bits;
  l.symmetric = symmetric;
  l.codes = codes.to(at::kChar);
  l.scale = torch::full({codes.size(0), n_groups}, 0.5f);
  l.zero = torch::zeros({codes.size(0), n_groups});
  return l;
}

}  // namespace

class TestExportPacked : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void gptqWordsAreHandComputed() {
    // 4-bit, codes[n][k] = (k + n) % 16 − 8: q = (k + n) % 16, 8 input rows per word, lowest nibble k = 0.
    at::Tensor codes = torch::empty({8, 8}, torch::kInt);
    for (int n = 0; n < 8; ++n) {
      for (int k = 0; k < 8; ++k) codes[n][k] = (k + n) % 16 - 8;
    }
    GptqTensors t = gptq_pack(hand_linear(4, true, codes));
    const std::vector<int32_t> words = {1985229328, -2023406815, -1737075662, -1450744509,
                                        -1164413356, -878082203, -591751050, -305419897};  // 0x76543210, 0x87654321, …
    QCOMPARE(t.qweight.sizes().vec(), (std::vector<int64_t>{1, 8}));
    for (int n = 0; n < 8; ++n) QCOMPARE(t.qweight[0][n].item<int32_t>(), words[n]);
    QCOMPARE(t.qzeros.sizes().vec(), (std::vector<int64_t>{1, 1}));
    QCOMPARE(t.qzeros[0][0].item<int32_t>(), int32_t{0x77777777});
    QCOMPARE(t.scales.scalar_type(), at::kHalf);
    QCOMPARE(t.g_idx.sum().item<int64_t>(), int64_t{0});
    // 8-bit: 4 input rows per word; codes[n][k] = k + 16n − 128 → bytes k + 16n; zeros 0x7F7F7F7F.
    at::Tensor c8 = torch::empty({8, 4}, torch::kInt);
    for (int n = 0; n < 8; ++n) {
      for (int k = 0; k < 4; ++k) c8[n][k] = k + 16 * n - 128;
    }
    GptqTensors t8 = gptq_pack(hand_linear(8, true, c8));
    QCOMPARE(t8.qweight[0][0].item<int32_t>(), int32_t{0x03020100});
    QCOMPARE(t8.qweight[0][7].item<int32_t>(), int32_t{0x73727170});
    QCOMPARE(t8.qzeros.sizes().vec(), (std::vector<int64_t>{1, 2}));
    QCOMPARE(t8.qzeros[0][1].item<int32_t>(), int32_t{0x7F7F7F7F});
    // The reader inverts both.
    QVERIFY(torch::equal(gptq_dequantize(t, 4, 8, 8, 1, "t"), codes.to(at::kFloat) * 0.5));
    QVERIFY(torch::equal(gptq_dequantize(t8, 8, 8, 4, 1, "t8"), c8.to(at::kFloat) * 0.5));
  }

  void compressedTensorsWordsAreHandComputed() {
    // in = 10: two words per row, the second zero-padded. Row 0 nibbles 0…9, row 1 nibbles 15…6.
    at::Tensor codes = torch::empty({2, 10}, torch::kInt);
    for (int k = 0; k < 10; ++k) {
      codes[0][k] = k - 8;
      codes[1][k] = 7 - k;
    }
    CompressedTensorsLinear t = compressed_tensors_pack(hand_linear(4, true, codes));
    QCOMPARE(t.weight_packed.sizes().vec(), (std::vector<int64_t>{2, 2}));
    QCOMPARE(t.weight_packed[0][0].item<int32_t>(), int32_t{0x76543210});
    QCOMPARE(t.weight_packed[0][1].item<int32_t>(), int32_t{0x98});
    QCOMPARE(t.weight_packed[1][0].item<int32_t>(), int32_t{-1985229329});  // 0x89ABCDEF
    QCOMPARE(t.weight_packed[1][1].item<int32_t>(), int32_t{0x67});
    QCOMPARE(t.weight_shape[0].item<int64_t>(), int64_t{2});
    QCOMPARE(t.weight_shape[1].item<int64_t>(), int64_t{10});
    QVERIFY(!t.weight_zero_point.defined());
    // Asymmetric: 10 output rows with zero o, packed along the output (dim 0) into 2 words.
    QuantizedLinear a = hand_linear(4, false, torch::arange(10, torch::kInt).unsqueeze(1).expand({10, 3}));
    a.zero = torch::arange(10, torch::kFloat).unsqueeze(1);
    CompressedTensorsLinear ta = compressed_tensors_pack(a);
    QCOMPARE(ta.weight_zero_point.sizes().vec(), (std::vector<int64_t>{2, 1}));
    QCOMPARE(ta.weight_zero_point[0][0].item<int32_t>(), int32_t{0x76543210});
    QCOMPARE(ta.weight_zero_point[1][0].item<int32_t>(), int32_t{0x98});
    const at::Tensor all_cols = torch::zeros({3}, torch::kLong);
    QVERIFY(torch::equal(compressed_tensors_dequantize(ta, 4, 10, 3, all_cols, "ta"), torch::zeros({10, 3})));
    QVERIFY(torch::equal(compressed_tensors_dequantize(t, 4, 2, 10, torch::zeros({10}, torch::kLong), "t"),
                         codes.to(at::kFloat) * 0.5));
    // 8-bit int-quantized: signed codes as int8.
    CompressedTensorsLinear t8 = compressed_tensors_pack(hand_linear(8, true, codes * 10));
    QCOMPARE(t8.weight.scalar_type(), at::kChar);
    QVERIFY(torch::equal(t8.weight.to(at::kInt), codes * 10));
  }

  void packUnpackRoundTripsOddShapes() {
    at::Generator gen = at::detail::createCPUGenerator(5);
    for (int bits : {2, 4, 8}) {
      for (int64_t dim : {0, 1}) {
        const at::Tensor v = torch::randint(0, int64_t{1} << bits, {13, 7}, gen, torch::kInt);
        const at::Tensor w = pack_int32(v, bits, dim);
        QCOMPARE(w.size(dim), (v.size(dim) * bits + 31) / 32);
        QVERIFY(torch::equal(unpack_int32(w, bits, dim, v.size(dim)), v));
      }
    }
  }

  void stories260kBothFormatsRoundTrip() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tok512.model");
    auto fp = model_load(model_path).value();
    const QuantizedModel q = quantize_or_fail(*fp, "4-16-16");
    QTemporaryDir tmp;
    const std::string ct = ostq_test::qstr(tmp.path()) + "/ct", gptq = ostq_test::qstr(tmp.path()) + "/gptq";

    write_compressed_tensors_export(q, ct, options(ExportFormat::kCompressedTensors, tok_path));
    QVERIFY(is_packed_hf_dir(ct));
    QVERIFY(file_exists(ct + "/tokenizer.json") && file_exists(ct + "/tokenizer.model"));
    const json cc = read_json(ct + "/config.json");
    QCOMPARE(cc["quantization_config"]["format"].get<std::string>(), std::string("pack-quantized"));
    QCOMPARE(cc["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"].get<std::string>(),
             std::string("channel"));
    QVERIFY(cc["quantization_config"]["ignore"] == json::array({"lm_head"}));
    expect_bit_exact(*q.model, *load_or_fail(ct));

    const ExportReport r = write_gptq_export(q, gptq, options(ExportFormat::kGptq, tok_path));
    QVERIFY(is_packed_hf_dir(gptq));
    const json gc = read_json(gptq + "/config.json");
    QCOMPARE(gc["torch_dtype"].get<std::string>(), std::string("float16"));
    QCOMPARE(gc["quantization_config"]["group_size"].get<int>(), -1);
    QVERIFY(read_json(gptq + "/quantize_config.json") == gc["quantization_config"]);
    // gate/up (out 172) and down (in 172) cannot be packed: stored dense, left out of the list.
    const json modules = json::parse(R"([["self_attn.q_proj","self_attn.k_proj","self_attn.v_proj"],["self_attn.o_proj"]])");
    QVERIFY(gc["quantization_config"]["modules_in_block_to_quantize"] == modules);
    int dense_notes = 0;
    for (const std::string& n : r.notes) dense_notes += n.find("stored dense") != std::string::npos;
    QCOMPARE(dense_notes, 3);
    SafetensorsFile f = SafetensorsFile::open(gptq + "/model.safetensors");
    QVERIFY(f.find("model.layers.0.mlp.down_proj.weight") && !f.find("model.layers.0.mlp.down_proj.qweight"));
    const TensorInfo* qz = f.find("model.layers.4.self_attn.k_proj.qzeros");
    QVERIFY(qz != nullptr && qz->shape == (std::vector<int64_t>{1, 4}));
    for (int64_t i = 0; i < qz->numel(); ++i) {
      int32_t word;
      std::memcpy(&word, f.tensor_data(*qz) + 4 * i, 4);
      QCOMPARE(word, int32_t{0x77777777});
    }
    const double worst = expect_within_fp16(*q.model, *load_or_fail(gptq));
    qInfo("stories260K GPTQ: largest relative weight change %.3g (tolerance %.0e)", worst, kFp16Tolerance);
  }

  void gqaModelWithBiasesRoundTrips() {
    auto fp = gqa_bias_model();
    for (const char* weight : {"weight=4:g128", "weight=4"}) {
      const QuantizedModel q = quantize_or_fail(*fp, "4-16-16", weight);
      QTemporaryDir tmp;
      const std::string ct = ostq_test::qstr(tmp.path()) + "/ct", gptq = ostq_test::qstr(tmp.path()) + "/gptq";
      write_compressed_tensors_export(q, ct, options(ExportFormat::kCompressedTensors));
      auto ct_model = load_or_fail(ct);
      QVERIFY(ct_model->config.qkv_bias && ct_model->config.n_kv_heads == 2);
      expect_bit_exact(*q.model, *ct_model);
      write_gptq_export(q, gptq, options(ExportFormat::kGptq));
      const json qc = read_json(gptq + "/config.json")["quantization_config"];
      const bool grouped = std::string(weight).find("g128") != std::string::npos;
      QCOMPARE(qc["group_size"].get<int>(), grouped ? 128 : -1);
      QVERIFY(!qc.contains("modules_in_block_to_quantize"));
      SafetensorsFile f = SafetensorsFile::open(gptq + "/model.safetensors");
      const TensorInfo* scales = f.find("model.layers.1.mlp.down_proj.scales");  // in 512, out 256
      QVERIFY(scales != nullptr && scales->shape == (std::vector<int64_t>{grouped ? 4 : 1, 256}));
      QVERIFY(f.find("model.layers.1.self_attn.k_proj.bias") != nullptr);
      const double worst = expect_within_fp16(*q.model, *load_or_fail(gptq));
      qInfo("GQA+bias %s GPTQ: largest relative change %.3g", grouped ? "g128" : "per-channel", worst);
    }
  }

  void gptqKeepsPartialGroupsDense() {
    // down_proj: in 384 is not a multiple of the group size 256 (vLLM refuses it): dense in GPTQ.
    SynthOptions so;
    so.dim = 256;
    so.hidden_dim = 384;
    so.n_layers = 1;
    so.n_heads = 4;
    so.vocab_size = 256;
    so.max_seq_len = 64;
    auto fp = synth_model(so);
    const QuantizedModel q = quantize_or_fail(*fp, "4-16-16", "weight=4:g256");
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path()) + "/gptq";
    const ExportReport r = write_gptq_export(q, dir, options(ExportFormat::kGptq));
    QVERIFY(std::any_of(r.notes.begin(), r.notes.end(), [](const std::string& n) {
      return n.find("mlp.down_proj stored dense") != std::string::npos && n.find("group size 256") != std::string::npos;
    }));
    const json modules = read_json(dir + "/config.json")["quantization_config"]["modules_in_block_to_quantize"];
    QVERIFY(modules == json::parse(R"([["self_attn.q_proj","self_attn.k_proj","self_attn.v_proj"],["self_attn.o_proj"],["mlp.gate_proj","mlp.up_proj"]])"));
    expect_within_fp16(*q.model, *load_or_fail(dir));
    // compressed-tensors keeps the last partial group (n_groups = ceil(384/256) = 2) exactly.
    write_compressed_tensors_export(q, dir + "-ct", options(ExportFormat::kCompressedTensors));
    expect_bit_exact(*q.model, *load_or_fail(dir + "-ct"));
  }

  void eightBitAndAsymmetric() {
    auto fp = gqa_bias_model();
    // Asymmetric 4-bit: GPTQ refuses, compressed-tensors stores zero points and reloads exactly.
    const QuantizedModel asym = quantize_or_fail(*fp, "4-16-16", "weight=4:g128:asym");
    QTemporaryDir tmp;
    const std::string base = ostq_test::qstr(tmp.path());
    Status s = status_guard([&] { write_gptq_export(asym, base + "/gptq", options(ExportFormat::kGptq)); });
    QCOMPARE(s.code(), StatusCode::kInvalidInput);
    QVERIFY2(s.message().find("GPTQ export writes symmetric codes") != std::string::npos, s.message().c_str());
    QVERIFY(!fs::exists(base + "/gptq"));
    write_compressed_tensors_export(asym, base + "/ct4a", options(ExportFormat::kCompressedTensors));
    QVERIFY(SafetensorsFile::open(base + "/ct4a/model.safetensors").find("model.layers.0.mlp.up_proj.weight_zero_point"));
    expect_bit_exact(*asym.model, *load_or_fail(base + "/ct4a"));
    // 8 bits: int-quantized (symmetric and asymmetric) and GPTQ 8-bit.
    for (const char* w : {"weight=8", "weight=8:asym"}) {
      const QuantizedModel q = quantize_or_fail(*fp, "8-16-16", w);
      const bool sym = q.weight_grids[0][0].symmetric;
      const std::string dir = base + "/ct8" + (sym ? "s" : "a");
      write_compressed_tensors_export(q, dir, options(ExportFormat::kCompressedTensors));
      QCOMPARE(read_json(dir + "/config.json")["quantization_config"]["format"].get<std::string>(),
               std::string("int-quantized"));
      expect_bit_exact(*q.model, *load_or_fail(dir));
      if (sym) {
        write_gptq_export(q, base + "/gptq8", options(ExportFormat::kGptq));
        QCOMPARE(read_json(base + "/gptq8/config.json")["quantization_config"]["bits"].get<int>(), 8);
        expect_within_fp16(*q.model, *load_or_fail(base + "/gptq8"));
      }
    }
  }

  void readerHandlesActOrderAndRealZeros() {
    // A GPTQ linear as AutoGPTQ writes it with desc_act: a permuted g_idx and arbitrary zeros.
    auto fp = gqa_bias_model();
    const QuantizedModel q = quantize_or_fail(*fp, "4-16-16", "weight=4:g128");
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path()) + "/gptq";
    write_gptq_export(q, dir, options(ExportFormat::kGptq));
    const int64_t in = 512, out = 256, ng = 4;  // layer 0 down_proj
    at::Generator gen = at::detail::createCPUGenerator(9);
    const at::Tensor codes = torch::randint(0, 16, {in, out}, gen, torch::kInt);
    const at::Tensor zeros = torch::randint(1, 16, {ng, out}, gen, torch::kInt);
    const at::Tensor scales = (torch::rand({ng, out}, gen) * 0.01 + 0.001).to(at::kHalf);
    const at::Tensor g_idx = torch::randperm(in, gen, torch::kLong).div(128, "floor").to(at::kInt);
    at::Tensor expected = torch::empty({out, in});
    auto e = expected.accessor<float, 2>();
    auto cq = codes.accessor<int32_t, 2>();
    auto zq = zeros.accessor<int32_t, 2>();
    const at::Tensor s32 = scales.to(at::kFloat);
    auto sq = s32.accessor<float, 2>();
    auto gq = g_idx.accessor<int32_t, 1>();
    for (int64_t k = 0; k < in; ++k) {
      for (int64_t n = 0; n < out; ++n) e[n][k] = sq[gq[k]][n] * static_cast<float>(cq[k][n] - zq[gq[k]][n]);
    }
    const std::string p = "model.layers.0.mlp.down_proj.";
    for (const char* format : {"gptq", "gptq_v2"}) {
      const int offset = std::string(format) == "gptq" ? 1 : 0;
      rewrite_tensors(dir, {{p + "qweight", {pack_int32(codes, 4, 0), DType::kI32}},
                            {p + "qzeros", {pack_int32(zeros - offset, 4, 1), DType::kI32}},
                            {p + "scales", {scales, DType::kF16}},
                            {p + "g_idx", {g_idx, DType::kI32}}});
      json c = read_json(dir + "/config.json");
      c["quantization_config"]["desc_act"] = true;
      c["quantization_config"]["sym"] = false;
      c["quantization_config"]["checkpoint_format"] = format;
      write_json(dir + "/config.json", c);
      auto m = load_or_fail(dir);
      QVERIFY2(torch::equal(m->weights.layers[0].w_down, expected), format);
    }
  }

  void damagedDirectoriesAreStatusErrors() {
    auto fp = gqa_bias_model();
    const QuantizedModel q = quantize_or_fail(*fp, "4-16-16", "weight=4:g128");
    QTemporaryDir tmp;
    const std::string base = ostq_test::qstr(tmp.path());
    const std::string gptq = base + "/gptq", ct = base + "/ct";
    write_gptq_export(q, gptq, options(ExportFormat::kGptq));
    write_compressed_tensors_export(q, ct, options(ExportFormat::kCompressedTensors));
    const std::string qw = "model.layers.1.self_attn.q_proj.qweight";
    int n = 0;
    auto fresh = [&](const std::string& from) { return copy_dir(from, base + "/case" + std::to_string(n++)); };

    std::string d = fresh(gptq);  // truncated file
    fs::resize_file(d + "/model.safetensors", fs::file_size(d + "/model.safetensors") / 2);
    expect_load_error(d, {"model.safetensors"});
    d = fresh(gptq);  // missing tensor
    rewrite_tensors(d, {}, {qw});
    expect_load_error(d, {"model.safetensors", qw, "missing"});
    d = fresh(gptq);  // wrong qweight shape
    rewrite_tensors(d, {{qw, {torch::zeros({16, 256}, torch::kInt), DType::kI32}}});
    expect_load_error(d, {"model.safetensors", qw, "[16,256]", "[32,256]"});
    d = fresh(gptq);  // qweight of the wrong dtype
    rewrite_tensors(d, {{qw, {torch::zeros({32, 256}), DType::kF32}}});
    expect_load_error(d, {qw, "F32"});
    d = fresh(gptq);  // g_idx out of range
    at::Tensor g = torch::zeros({256}, torch::kInt);
    g[7] = 1000;
    rewrite_tensors(d, {{"model.layers.0.self_attn.o_proj.g_idx", {g, DType::kI32}}});
    expect_load_error(d, {"model.safetensors", "o_proj.g_idx", "outside"});
    // Bad quantization_config values.
    const std::vector<std::pair<json, std::string>> bad = {
        {json{{"bits", 3}}, "bits"},
        {json{{"group_size", 0}}, "group_size"},
        {json{{"quant_method", "awq"}}, "quant_method"},
        {json{{"checkpoint_format", "marlin"}}, "checkpoint_format"},
        {json{{"bits", "four"}}, "bits"},
        {json{{"modules_in_block_to_quantize", json::array({"mlp.nope"})}}, "modules_in_block_to_quantize"}};
    for (const auto& [patch, word] : bad) {
      d = fresh(gptq);
      json c = read_json(d + "/config.json");
      c["quantization_config"].update(patch);
      write_json(d + "/config.json", c);
      expect_load_error(d, {"config.json", word});
    }
    d = fresh(gptq);
    json c = read_json(d + "/config.json");
    c["quantization_config"] = "gptq";
    write_json(d + "/config.json", c);
    expect_load_error(d, {"config.json", "quantization_config"});
    d = fresh(gptq);
    std::ofstream(d + "/config.json", std::ios::trunc) << "{\"quantization_config\": ";
    expect_load_error(d, {"config.json"});
    QVERIFY(!is_packed_hf_dir(d));

    // compressed-tensors: weight_shape disagreeing with config.json, missing scale, activation scheme.
    const std::string pc = "model.layers.0.mlp.gate_proj.";
    d = fresh(ct);
    rewrite_tensors(d, {{pc + "weight_shape", {torch::tensor({512, 255}, torch::kLong), DType::kI64}}});
    expect_load_error(d, {"model.safetensors", "weight_shape", "[512,255]"});
    d = fresh(ct);
    rewrite_tensors(d, {}, {pc + "weight_scale"});
    expect_load_error(d, {"model.safetensors", pc + "weight_scale"});
    d = fresh(ct);
    c = read_json(d + "/config.json");
    c["quantization_config"]["config_groups"]["group_0"]["input_activations"] = {{"num_bits", 8}};
    write_json(d + "/config.json", c);
    expect_load_error(d, {"config.json", "input_activations"});
    d = fresh(ct);
    c = read_json(d + "/config.json");
    c["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"] = "block";
    write_json(d + "/config.json", c);
    expect_load_error(d, {"config.json", "strategy"});

    // AutoGPTQ layout: quantization_config only in quantize_config.json.
    d = fresh(gptq);
    c = read_json(d + "/config.json");
    c.erase("quantization_config");
    write_json(d + "/config.json", c);
    QVERIFY(is_packed_hf_dir(d));
    expect_within_fp16(*q.model, *load_or_fail(d));

    // A cancelled write leaves nothing behind.
    ExportOptions cancel = options(ExportFormat::kCompressedTensors);
    cancel.progress = [](const Progress& p) { return p.stage != "write"; };
    Status s = status_guard([&] { write_compressed_tensors_export(q, base + "/cancelled", cancel); });
    QCOMPARE(s.code(), StatusCode::kCancelled);
    QVERIFY(!fs::exists(base + "/cancelled"));
    for (const auto& e : fs::directory_iterator(base)) {
      QVERIFY2(e.path().filename().string().find("cancelled") == std::string::npos, e.path().c_str());
    }
    // An existing non-empty directory is refused.
    s = status_guard([&] { write_gptq_export(q, gptq, options(ExportFormat::kGptq)); });
    QCOMPARE(s.code(), StatusCode::kInvalidInput);

    // Detection: a dense HF directory and a missing path are not packed checkpoints.
    hf_write(*fp, base + "/dense", HfWriteOptions{});
    QVERIFY(!is_packed_hf_dir(base + "/dense"));
    QVERIFY(!is_packed_hf_dir(base + "/nothing"));
    QVERIFY(is_packed_hf_dir(gptq) && is_packed_hf_dir(ct));
  }
};

QTEST_GUILESS_MAIN(TestExportPacked)
#include "tst_export_packed.moc"
