// SPDX-License-Identifier: Apache-2.0
// The export layer as a whole: bundles keep the exact integer grids (codes recovered bit for bit
// after a save/load), formats refuse what they cannot express, hf-dense folds H_ff back and
// records the W4A4 quantizers, verification catches a tampered export, and a failed export
// leaves nothing behind. Per-format byte layouts are tested in tst_export_{packed,gguf,llama2c}.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/export/export.h"
#include "core/export/export_reader.h"
#include "core/export/quantized_linear.h"
#include "core/io/safetensors.h"
#include "core/model/synth.h"
#include "core/quant/methods.h"
#include "core/quant/quantized_io.h"
#include "test_data.h"

using namespace ostq;

namespace {

std::shared_ptr<Model> small_model() {
  SynthOptions o;
  o.dim = 64;
  o.hidden_dim = 128;
  o.n_layers = 2;
  o.n_heads = 4;
  o.n_kv_heads = 2;
  o.vocab_size = 256;
  o.max_seq_len = 128;
  o.seed = 5;
  return synth_model(o);
}

QuantizedModel quantize(const Model& m, const std::string& method, const std::string& bits, bool online_ffn = true,
                        const at::Tensor& calib = {}) {
  QuantizeOptions o;
  o.method = method_spec_parse(method).value();
  o.config = quant_config_parse(bits, m.config.head_dim).value();
  o.online_ffn_hadamard = online_ffn;
  o.calibration = calib;
  Result<QuantizedModel> q = quantize_model(m, o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  return std::move(q).value();
}

at::Tensor random_tokens(const ModelConfig& c, int64_t b, int64_t t, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randint(3, c.vocab_size, {b, t}, gen, torch::kLong);
}

at::Tensor forward_logits(const Model& m, const at::Tensor& tokens, ForwardHooks* hooks = nullptr) {
  ForwardOptions o;
  o.hooks = hooks;
  return model_forward(m, tokens, o);
}

ExportOptions options(ExportFormat f) {
  ExportOptions o;
  o.format = f;
  return o;
}

bool has_status(const std::function<void()>& f, StatusCode code, const std::string& needle) {
  try {
    f();
  } catch (const StatusError& e) {
    if (e.status().code() != code) qWarning("wrong code: %s", e.status().to_string().c_str());
    if (e.status().message().find(needle) == std::string::npos) qWarning("message: %s", e.what());
    return e.status().code() == code && e.status().message().find(needle) != std::string::npos;
  }
  return false;
}

}  // namespace

class TestExport : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  // RTN and GPTQ record the grid of every linear; the codes come back exactly, also from a bundle.
  void grids_survive_the_bundle() {
    auto m = small_model();
    const at::Tensor calib = random_tokens(m->config, 8, 64, 1);
    for (const char* method : {"rtn", "gptq"}) {
      QuantizedModel q = quantize(*m, method, "4-16-16", true, std::string(method) == "gptq" ? calib : at::Tensor());
      QVERIFY(has_weight_grids(q));
      QTemporaryDir tmp;
      const std::string dir = ostq_test::qstr(tmp.path()) + "/b";
      quantized_model_save(q, dir, "");
      Result<QuantizedModel> back = quantized_model_load(dir);
      QVERIFY2(back.is_ok(), back.status().to_string().c_str());
      QVERIFY(has_weight_grids(back.value()));
      for (int64_t li = 0; li < m->config.n_layers; ++li) {
        for (LinearId id : kLinearIds) {
          const QuantizedLinear a = quantized_linear(q, li, id), b = quantized_linear(back.value(), li, id);
          QVERIFY(at::equal(a.codes, b.codes));
          QVERIFY(at::equal(a.scale, b.scale));
          QVERIFY(at::equal(quantized_linear_dequantize(a), linear_weight(q.model->weights.layers[li], id)));
          QVERIFY(a.codes.min().item<int>() >= -8 && a.codes.max().item<int>() <= 7);
        }
      }
    }
  }

  // A model whose weights are not quantized has no codes to pack.
  void unquantized_weights_have_no_codes() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "rtn", "16-16-16");
    QVERIFY(!has_weight_grids(q));
    QVERIFY(has_status([&] { quantized_linear(q, 0, LinearId::kQ); }, StatusCode::kInvalidInput, "no quantization grids"));
    QTemporaryDir tmp;
    QVERIFY(has_status([&] { export_quantized(q, ostq_test::qstr(tmp.path()) + "/g", options(ExportFormat::kGptq)); },
                       StatusCode::kInvalidInput, "not quantized"));
  }

  // Weight-only formats refuse W4A4 and the online H_ff; nothing is written.
  void formats_refuse_what_they_cannot_express() {
    auto m = small_model();
    QuantizedModel w4a4 = quantize(*m, "quarot", "4-4-16");
    QuantizedModel hff = quantize(*m, "quarot", "4-16-16", /*online_ffn=*/true);
    QVERIFY(hff.model->online.ffn);
    QTemporaryDir tmp;
    for (ExportFormat f : {ExportFormat::kGptq, ExportFormat::kCompressedTensors, ExportFormat::kGguf, ExportFormat::kLlama2c}) {
      const std::string out = ostq_test::qstr(tmp.path()) + "/" + export_format_name(f);
      QVERIFY(has_status([&] { export_quantized(w4a4, out, options(f)); }, StatusCode::kInvalidInput, "weight-only"));
      QVERIFY(has_status([&] { export_quantized(hff, out, options(f)); }, StatusCode::kInvalidInput, "--no-online-hadamard"));
      QVERIFY(!std::filesystem::exists(out));
    }
    QVERIFY(QDir(tmp.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries).isEmpty());
  }

  // hf-dense of a W4A16 model with H_ff: the plain dense model (fold undone) computes what the
  // quantized model with its online op computes, and verify agrees.
  void hf_dense_folds_hff_back() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "quarot", "4-16-16", true);
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/dense";
    const ExportReport r = export_quantized(q, out, options(ExportFormat::kHfDense));
    QVERIFY(r.bytes > r.weight_bytes && r.weight_bytes > 0);
    QCOMPARE(r.parameters, model_parameter_count(*q.model));
    Result<std::shared_ptr<Model>> plain = model_load(out);  // any HF loader's view: no online op
    QVERIFY2(plain.is_ok(), plain.status().to_string().c_str());
    QVERIFY(!plain.value()->online.ffn);
    const at::Tensor tokens = random_tokens(m->config, 2, 32, 7);
    const at::Tensor a = forward_logits(*q.model, tokens), b = forward_logits(*plain.value(), tokens);
    const double rel = (a - b).abs().max().item<double>() / a.abs().max().item<double>();
    QVERIFY2(rel < 1e-5, std::to_string(rel).c_str());
    Result<VerifyReport> v = verify_export(out, q, nullptr, {});
    QVERIFY2(v.is_ok(), v.status().to_string().c_str());
    QVERIFY2(v->passed, v->failure.c_str());
  }

  // hf-dense of W4A4KV4 records the quantizers; loading it back restores them and the online ops.
  void hf_dense_records_w4a4() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "quarot", "4-4-4", true);
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/dense";
    export_quantized(q, out, options(ExportFormat::kHfDense));
    Result<LoadedArtifact> back = load_artifact(out);
    QVERIFY2(back.is_ok(), back.status().to_string().c_str());
    QCOMPARE(back->kind, ArtifactKind::kHfDense);
    QCOMPARE(back->model.config.describe(), q.config.describe());
    QVERIFY(back->model.model->online.ffn && back->model.model->online.qk);
    const at::Tensor tokens = random_tokens(m->config, 2, 32, 9);
    ActivationQuantHooks ha(q.config), hb(back->model.config);
    const at::Tensor a = forward_logits(*q.model, tokens, &ha), b = forward_logits(*back->model.model, tokens, &hb);
    // Quantizers round: a few elements may land on the other side of a rounding boundary after the
    // fp64 fold round trip, so compare the mean, not the max.
    const double rel = (a - b).abs().mean().item<double>() / a.abs().mean().item<double>();
    QVERIFY2(rel < 1e-3, std::to_string(rel).c_str());
  }

  // A tampered tensor in an export fails verification (weights out of tolerance).
  void verify_catches_tampering() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "rtn", "4-16-16");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/ct";
    export_quantized(q, out, options(ExportFormat::kHfDense));
    QuantizedModel other = quantize(*m, "rtn", "4-16-16");
    at::Tensor& w = other.model->weights.layers[1].w_up;
    w = w * 1.5;
    Result<VerifyReport> v = verify_export(out, other, nullptr, {});
    QVERIFY2(v.is_ok(), v.status().to_string().c_str());
    QVERIFY(!v->passed);
    QVERIFY(v->failure.find("weights differ") != std::string::npos);
  }

  // An existing non-empty output is refused and left untouched.
  void existing_output_is_refused() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "rtn", "4-16-16");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/dense";
    std::filesystem::create_directories(out);
    { std::ofstream(out + "/keep.txt") << "user data"; }
    QVERIFY_EXCEPTION_THROWN(export_quantized(q, out, options(ExportFormat::kHfDense)), StatusError);
    QVERIFY(std::filesystem::exists(out + "/keep.txt"));
  }

  // size_only plans the export without writing; the planned weight bytes match what is written
  // (exactly for the single-file formats, up to the JSON headers for safetensors directories).
  void size_only_matches_the_written_size() {
    auto m = small_model();
    QuantizedModel q = quantize(*m, "rtn", "4-16-16", false);
    QTemporaryDir tmp;
    for (ExportFormat f : {ExportFormat::kHfDense, ExportFormat::kGptq, ExportFormat::kCompressedTensors,
                           ExportFormat::kGguf, ExportFormat::kLlama2c}) {
      const std::string out = default_export_path(ostq_test::qstr(tmp.path()) + "/b", f);
      ExportOptions o = options(f);
      o.size_only = true;
      const ExportReport planned = export_quantized(q, out, o);
      QVERIFY(planned.size_only);
      QVERIFY(!std::filesystem::exists(out));
      const ExportReport written = export_quantized(q, out, options(f));
      const bool single_file = f == ExportFormat::kGguf || f == ExportFormat::kLlama2c;
      if (single_file) {
        QCOMPARE(planned.weight_bytes, written.weight_bytes);
      } else {
        QVERIFY2(planned.weight_bytes <= written.weight_bytes && written.weight_bytes - planned.weight_bytes < 65536,
                 (std::to_string(planned.weight_bytes) + " vs " + std::to_string(written.weight_bytes)).c_str());
      }
      QVERIFY(planned.bits_per_parameter > 0);
    }
  }

  void format_names_round_trip() {
    for (ExportFormat f : {ExportFormat::kHfDense, ExportFormat::kGptq, ExportFormat::kCompressedTensors,
                           ExportFormat::kGguf, ExportFormat::kLlama2c}) {
      QCOMPARE(export_format_parse(export_format_name(f)).value(), f);
    }
    QVERIFY(!export_format_parse("onnx").is_ok());
  }
};

QTEST_GUILESS_MAIN(TestExport)
#include "tst_export.moc"
