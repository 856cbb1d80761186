// SPDX-License-Identifier: Apache-2.0
// config.json parsing (FORMATS.md §4.2) on inline copies of real configs, the round trip through
// hf_config_to_json, and the rejected cases (each error must name the file). To add a rejected
// config, add a row to errors_data().
#include <QtTest/QtTest>

#include "core/io/hf_config.h"
#include "core/util/file_util.h"
#include "core/util/status.h"
#include "test_data.h"

using namespace ostq;

namespace {

// Trimmed from meta-llama/Llama-2-7b-hf.
const char* kLlama2 = R"({
  "_name_or_path": "meta-llama/Llama-2-7b-hf",
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
  "use_cache": true, "vocab_size": 32000
})";

// meta-llama/Llama-3.1-8B-Instruct.
const char* kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256
})";

// mistralai/Mistral-7B-v0.1.
const char* kMistral = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0",
  "use_cache": true, "vocab_size": 32000
})";

// Qwen/Qwen2-0.5B.
const char* kQwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936
})";

// A small LLaMA with an explicit head_dim that differs from hidden/heads (as in Mistral-Nemo).
const char* kExplicitHeadDim = R"({
  "model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 512,
  "max_position_embeddings": 256
})";

ModelConfig parse_ok(const char* text, const char* file = "/models/x/config.json") {
  auto r = status_guard([&] { return hf_config_parse(text, file); });
  if (!r.is_ok()) qWarning("%s", r.status().to_string().c_str());
  return r.is_ok() ? r.value() : ModelConfig{};
}


// `base` with one top-level key replaced (or removed when value is empty), as JSON text.
QString edited(const char* base, const char* key, const char* value) {
  QJsonDocument doc = QJsonDocument::fromJson(QByteArray(base));
  QJsonObject o = doc.object();
  if (*value == '\0') {
    o.remove(QLatin1String(key));
  } else {
    const QJsonDocument v = QJsonDocument::fromJson(QByteArray("[") + value + "]");
    o.insert(QLatin1String(key), v.array().at(0));
  }
  return QString::fromUtf8(QJsonDocument(o).toJson());
}

}  // namespace

class TestHfConfig : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void llama2();
  void llama31();
  void mistral();
  void qwen2();
  void explicitHeadDim();
  void defaults();
  void loadFromDirectory();
  void roundTrip();
  void errors_data();
  void errors();
};

void TestHfConfig::llama2() {
  const ModelConfig c = parse_ok(kLlama2);
  QCOMPARE(c.arch, Architecture::kLlama);
  QCOMPARE(c.source, SourceFormat::kHuggingFace);
  QCOMPARE(c.dim, int64_t{4096});
  QCOMPARE(c.hidden_dim, int64_t{11008});
  QCOMPARE(c.n_layers, int64_t{32});
  QCOMPARE(c.n_heads, int64_t{32});
  QCOMPARE(c.n_kv_heads, int64_t{32});
  QCOMPARE(c.head_dim, int64_t{128});
  QCOMPARE(c.vocab_size, int64_t{32000});
  QCOMPARE(c.max_seq_len, int64_t{4096});
  QCOMPARE(c.norm_eps, 1e-5);
  QCOMPARE(c.rope_theta, 10000.0);  // absent → default
  QCOMPARE(c.rope_scaling.type, RopeScaling::Type::kNone);
  QVERIFY(!c.tied_embeddings);
  QVERIFY(!c.qkv_bias);
  QCOMPARE(c.sliding_window, int64_t{0});
  QCOMPARE(c.bos_id, 1);
  QCOMPARE(c.eos_id, 2);
  QCOMPARE(c.name, std::string("meta-llama/Llama-2-7b-hf"));
  QCOMPARE(c.parameter_count(), int64_t{6738415616});  // the published LLaMA-2-7B count
}

void TestHfConfig::llama31() {
  const ModelConfig c = parse_ok(kLlama31);
  QCOMPARE(c.arch, Architecture::kLlama);
  QCOMPARE(c.n_kv_heads, int64_t{8});  // GQA
  QCOMPARE(c.kv_dim(), int64_t{1024});
  QCOMPARE(c.max_seq_len, int64_t{131072});
  QCOMPARE(c.rope_theta, 500000.0);
  QCOMPARE(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  QCOMPARE(c.rope_scaling.factor, 8.0);
  QCOMPARE(c.rope_scaling.low_freq_factor, 1.0);
  QCOMPARE(c.rope_scaling.high_freq_factor, 4.0);
  QCOMPARE(c.rope_scaling.original_max_position_embeddings, int64_t{8192});
  QCOMPARE(c.bos_id, 128000);
  QCOMPARE(c.eos_id, 128001);          // first of the list
  QCOMPARE(c.name, std::string("x"));  // no _name_or_path: the directory's name
  QCOMPARE(c.parameter_count(), int64_t{8030261248});

  // The older "type" spelling of the same key.
  QString legacy = QString::fromUtf8(kLlama31);
  legacy.replace(QStringLiteral("\"rope_type\""), QStringLiteral("\"type\""));
  QCOMPARE(parse_ok(legacy.toUtf8().constData()).rope_scaling.type, RopeScaling::Type::kLlama3);
}

void TestHfConfig::mistral() {
  const ModelConfig c = parse_ok(kMistral);
  QCOMPARE(c.arch, Architecture::kMistral);
  QCOMPARE(c.sliding_window, int64_t{4096});
  QCOMPARE(c.n_kv_heads, int64_t{8});
  QCOMPARE(c.head_dim, int64_t{128});
  QCOMPARE(c.max_seq_len, int64_t{32768});
  QCOMPARE(c.parameter_count(), int64_t{7241732096});
  const ModelConfig no_window =
      parse_ok(edited(kMistral, "sliding_window", "null").toUtf8().constData());
  QCOMPARE(no_window.sliding_window, int64_t{0});
}

void TestHfConfig::qwen2() {
  const ModelConfig c = parse_ok(kQwen2);
  QCOMPARE(c.arch, Architecture::kQwen2);
  QVERIFY(c.qkv_bias);
  QVERIFY(c.tied_embeddings);
  QCOMPARE(c.head_dim, int64_t{64});
  QCOMPARE(c.n_kv_heads, int64_t{2});
  QCOMPARE(c.norm_eps, 1e-6);
  QCOMPARE(c.rope_theta, 1e6);
  QCOMPARE(c.sliding_window, int64_t{0});  // use_sliding_window is false
  QCOMPARE(c.bos_id, 151643);
  QCOMPARE(c.eos_id, 151643);
  QCOMPARE(c.parameter_count(), int64_t{494032768});  // Qwen2-0.5B
}

void TestHfConfig::explicitHeadDim() {
  const ModelConfig c = parse_ok(kExplicitHeadDim);
  QCOMPARE(c.head_dim, int64_t{32});
  QCOMPARE(c.q_dim(), int64_t{128});
  QCOMPARE(c.kv_dim(), int64_t{64});
  // head_dim: null falls back to hidden / heads.
  const ModelConfig d = parse_ok(edited(kExplicitHeadDim, "head_dim", "null").toUtf8().constData());
  QCOMPARE(d.head_dim, int64_t{16});
}

void TestHfConfig::defaults() {
  // Architecture from model_type alone; every optional key absent.
  const ModelConfig c = parse_ok(R"({"model_type": "mistral", "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
      "vocab_size": 100, "max_position_embeddings": 64})");
  QCOMPARE(c.arch, Architecture::kMistral);
  QCOMPARE(c.n_kv_heads, int64_t{4});
  QCOMPARE(c.head_dim, int64_t{16});
  QCOMPARE(c.norm_eps, 1e-6);
  QCOMPARE(c.rope_theta, 10000.0);
  QCOMPARE(c.sliding_window, int64_t{0});
  QCOMPARE(c.bos_id, -1);
  QCOMPARE(c.eos_id, -1);
  QCOMPARE(c.rope_scaling.type, RopeScaling::Type::kNone);
  const ModelConfig e = parse_ok(edited(kLlama2, "eos_token_id", "[]").toUtf8().constData());
  QCOMPARE(e.eos_id, -1);
  const ModelConfig d =
      parse_ok(edited(kLlama2, "rope_scaling", R"({"rope_type": "default"})").toUtf8().constData());
  QCOMPARE(d.rope_scaling.type, RopeScaling::Type::kNone);
}

void TestHfConfig::loadFromDirectory() {
  QTemporaryDir tmp;
  const std::string dir = path_join(ostq_test::qstr(tmp.path()), "tiny-mistral");
  QVERIFY(QDir().mkpath(QString::fromStdString(dir)));
  QFile f(QString::fromStdString(path_join(dir, "config.json")));
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(kMistral);
  f.close();
  auto r = status_guard([&] { return hf_config_load(dir + "/"); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  QCOMPARE(r.value().name, std::string("tiny-mistral"));
  QCOMPARE(r.value().arch, Architecture::kMistral);

  const std::string empty = ostq_test::qstr(tmp.path());
  const Status s = status_guard([&] { (void)hf_config_load(empty); });
  QCOMPARE(s.code(), StatusCode::kIoError);
  QVERIFY(s.message().find(path_join(empty, "config.json")) != std::string::npos);
}

void TestHfConfig::roundTrip() {
  for (const char* text : {kLlama2, kLlama31, kMistral, kQwen2, kExplicitHeadDim}) {
    const ModelConfig c = parse_ok(text);
    const std::string json = hf_config_to_json(c, DType::kBF16);
    QVERIFY(json.find("\"torch_dtype\": \"bfloat16\"") != std::string::npos);
    const ModelConfig back = parse_ok(json.c_str(), "/elsewhere/out/config.json");
    QVERIFY2(c == back, json.c_str());
  }
  // A llama2.c model (no name, no special ids) survives too.
  ModelConfig c;
  c.source = SourceFormat::kLlama2cV0;
  c.dim = 288;
  c.hidden_dim = 768;
  c.n_layers = 6;
  c.n_heads = 6;
  c.n_kv_heads = 6;
  c.head_dim = 48;
  c.vocab_size = 32000;
  c.max_seq_len = 256;
  c.norm_eps = 1e-5;
  c.name = "stories15M";
  ModelConfig back = parse_ok(hf_config_to_json(c, DType::kF32).c_str());
  c.source = SourceFormat::kHuggingFace;
  QVERIFY(c == back);
  // Not expressible in config.json: llama with q/k/v biases only.
  c.qkv_bias = true;
  QCOMPARE(status_guard([&] { (void)hf_config_to_json(c); }).code(), StatusCode::kUnsupported);
}

void TestHfConfig::errors_data() {
  QTest::addColumn<QString>("json");
  QTest::addColumn<int>("code");
  QTest::addColumn<QString>("needle");
  const int inv = static_cast<int>(StatusCode::kInvalidInput);
  const int uns = static_cast<int>(StatusCode::kUnsupported);
  QTest::newRow("not json") << QStringLiteral("{\"hidden_size\": ") << inv
                            << QStringLiteral("not valid JSON");
  QTest::newRow("nul byte") << QString::fromUtf8(QByteArray(kLlama2) + QByteArray("\0x", 2)) << inv
                            << QStringLiteral("NUL");
  QTest::newRow("not an object") << QStringLiteral("[1]") << inv
                                 << QStringLiteral("not a JSON object");
  QTest::newRow("unsupported architecture")
      << edited(kLlama2, "architectures", R"(["GemmaForCausalLM"])") << uns
      << QStringLiteral("GemmaForCausalLM");
  QTest::newRow("unsupported model_type")
      << edited(edited(kLlama2, "architectures", "").toUtf8().constData(), "model_type",
                R"("gpt2")")
      << uns << QStringLiteral("gpt2");
  QTest::newRow("no architecture")
      << edited(edited(kLlama2, "architectures", "").toUtf8().constData(), "model_type", "") << inv
      << QStringLiteral("model_type");
  QTest::newRow("architectures not list")
      << edited(kLlama2, "architectures", R"("LlamaForCausalLM")") << inv
      << QStringLiteral("architectures");
  QTest::newRow("yarn") << edited(kLlama2, "rope_scaling",
                                  R"({"rope_type": "yarn", "factor": 4.0})")
                        << uns << QStringLiteral("yarn");
  QTest::newRow("linear") << edited(kLlama2, "rope_scaling", R"({"type": "linear", "factor": 2.0})")
                          << uns << QStringLiteral("linear");
  QTest::newRow("rope_scaling no type") << edited(kLlama2, "rope_scaling", R"({"factor": 2.0})")
                                        << inv << QStringLiteral("rope_type");
  QTest::newRow("llama3 missing key")
      << edited(kLlama2, "rope_scaling",
                R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0})")
      << inv << QStringLiteral("high_freq_factor");
  QTest::newRow("llama3 bad factors")
      << edited(kLlama2, "rope_scaling",
                R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})")
      << inv << QStringLiteral("greater than low_freq_factor");
  QTest::newRow("missing hidden_size")
      << edited(kLlama2, "hidden_size", "") << inv << QStringLiteral("\"hidden_size\" is missing");
  QTest::newRow("hidden_size string") << edited(kLlama2, "hidden_size", R"("abc")") << inv
                                      << QStringLiteral("\"hidden_size\" must be an integer");
  QTest::newRow("hidden_size float")
      << edited(kLlama2, "hidden_size", "4096.5") << inv << QStringLiteral("must be an integer");
  QTest::newRow("heads object") << edited(kLlama2, "num_attention_heads", "{}") << inv
                                << QStringLiteral("num_attention_heads");
  QTest::newRow("huge integer") << edited(kLlama2, "vocab_size", "1e300") << inv
                                << QStringLiteral("vocab_size");
  QTest::newRow("rope_theta string")
      << edited(kLlama2, "rope_theta", R"("1e4")") << inv << QStringLiteral("must be a number");
  QTest::newRow("tie not bool") << edited(kLlama2, "tie_word_embeddings", "1") << inv
                                << QStringLiteral("tie_word_embeddings");
  QTest::newRow("eos list of strings")
      << edited(kLlama2, "eos_token_id", R"(["</s>"])") << inv << QStringLiteral("eos_token_id");
  QTest::newRow("heads not divisible by kv") << edited(kLlama2, "num_key_value_heads", "5") << inv
                                             << QStringLiteral("not a multiple of n_kv_heads");
  QTest::newRow("zero heads") << edited(kLlama2, "num_attention_heads", "0") << inv
                              << QStringLiteral("num_attention_heads");
  QTest::newRow("hidden not divisible")
      << edited(kLlama2, "num_attention_heads", "30") << inv << QStringLiteral("not divisible");
  QTest::newRow("negative layers")
      << edited(kLlama2, "num_hidden_layers", "-1") << inv << QStringLiteral("positive");
  QTest::newRow("gelu") << edited(kLlama2, "hidden_act", R"("gelu")") << uns
                        << QStringLiteral("gelu");
  QTest::newRow("attention_bias") << edited(kLlama2, "attention_bias", "true") << uns
                                  << QStringLiteral("attention_bias");
  QTest::newRow("mlp_bias") << edited(kLlama2, "mlp_bias", "true") << uns
                            << QStringLiteral("mlp_bias");
  QTest::newRow("qwen2 sliding window") << edited(kQwen2, "use_sliding_window", "true") << uns
                                        << QStringLiteral("use_sliding_window");
  QTest::newRow("quantized") << edited(kLlama2, "quantization_config",
                                       R"({"quant_method": "gptq"})")
                             << uns << QStringLiteral("quantization_config");
}

void TestHfConfig::errors() {
  QFETCH(QString, json);
  QFETCH(int, code);
  QFETCH(QString, needle);
  const std::string file = "/models/broken-model/config.json";
  const QByteArray text = json.toUtf8();
  const Status s = status_guard([&] {
    (void)hf_config_parse(std::string_view(text.constData(), static_cast<size_t>(text.size())),
                          file);
  });
  QVERIFY2(!s.is_ok(), "expected a failure");
  QVERIFY2(s.code() == static_cast<StatusCode>(code), s.to_string().c_str());
  QVERIFY2(s.message().find(file) != std::string::npos, s.to_string().c_str());
  QVERIFY2(s.message().find(needle.toStdString()) != std::string::npos, s.to_string().c_str());
}

QTEST_GUILESS_MAIN(TestHfConfig)
#include "tst_hf_config.moc"
