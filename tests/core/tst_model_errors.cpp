// SPDX-License-Identifier: Apache-2.0
// Bad model input gets a clear error naming the file and the problem — never a crash.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <fstream>

#include "core/engine/runtime.h"
#include "core/model/hf_writer.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"
#include "test_data.h"

using namespace ostq;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Loads `path` and checks the error mentions every fragment.
void expect_error(const std::string& path, std::initializer_list<const char*> fragments) {
  auto r = model_load(path);
  QVERIFY2(!r.is_ok(), ("loaded although broken: " + path).c_str());
  const std::string msg = r.status().message();
  QVERIFY2(r.status().code() != StatusCode::kInternal, msg.c_str());
  for (const char* f : fragments) QVERIFY2(msg.find(f) != std::string::npos, (msg + " lacks: " + f).c_str());
}

std::string small_hf_model(const QTemporaryDir& tmp) {
  SynthOptions s;
  s.dim = 32; s.n_layers = 1; s.n_heads = 4; s.n_kv_heads = 2; s.vocab_size = 300; s.max_seq_len = 32;
  const std::string dir = ostq_test::qstr(tmp.path()) + "/m";
  HfWriteOptions w;
  w.synthetic_vocab_tokenizer = 300;
  hf_write(*synth_model(s), dir, w);
  return dir;
}

void replace_in_file(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_file(path);
  auto pos = text.find(from);
  QVERIFY2(pos != std::string::npos, from.c_str());
  text.replace(pos, from.size(), to);
  write_bytes(path, text);
}

}  // namespace

class TestModelErrors : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void missingPath() { expect_error("/nonexistent/model.bin", {"/nonexistent/model.bin"}); }

  void llama2cTruncated() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/cut.bin";
    write_bytes(path, read_file(src).substr(0, 500000));
    expect_error(path, {"cut.bin", "truncated", "1056540"});
  }

  void llama2cTooSmall() {
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/tiny.bin";
    write_bytes(path, "abc");
    expect_error(path, {"tiny.bin", "too small"});
  }

  void llama2cWrongHeader() {
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/neg.bin";
    int32_t h[7] = {64, -172, 5, 8, 4, 512, 512};
    write_bytes(path, std::string(reinterpret_cast<const char*>(h), 28) + std::string(1000, '\0'));
    expect_error(path, {"neg.bin", "not a llama2.c checkpoint"});
  }

  void llama2cTrailingBytes() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/long.bin";
    write_bytes(path, read_file(src) + "junk");
    expect_error(path, {"long.bin", "does not match the header"});
  }

  void llama2cUnknownVersion() {
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/v7.bin";
    std::string bytes(300, '\0');
    uint32_t magic = 0x616b3432;
    int32_t version = 7;
    std::memcpy(bytes.data(), &magic, 4);
    std::memcpy(bytes.data() + 4, &version, 4);
    write_bytes(path, bytes);
    expect_error(path, {"v7.bin", "version 7"});
  }

  void llama2cNaNWeights() {
    OSTQ_REQUIRE_SHARED(src, "models/stories260K.bin");
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/nan.bin";
    std::string bytes = read_file(src);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(bytes.data() + 132380 + 40, &nan, 4);  // inside wq of layer 0 (FORMATS.md offsets)
    write_bytes(path, bytes);
    expect_error(path, {"nan.bin", "NaN"});
  }

  void hfUnsupportedArchitecture() {
    QTemporaryDir tmp;
    const std::string dir = small_hf_model(tmp);
    replace_in_file(dir + "/config.json", "LlamaForCausalLM", "GPT2LMHeadModel");
    expect_error(dir, {"config.json", "GPT2LMHeadModel"});
  }

  void hfMissingTensor() {
    QTemporaryDir tmp;
    const std::string dir = small_hf_model(tmp);
    // Rename the tensor in the header (same length keeps the file valid).
    replace_in_file(dir + "/model.safetensors", "model.layers.0.mlp.up_proj.weight",
                    "model.layers.0.mlp.up_proj.wXight");
    expect_error(dir, {"missing tensor model.layers.0.mlp.up_proj.weight"});
  }

  void hfShapeMismatch() {
    QTemporaryDir tmp;
    const std::string dir = small_hf_model(tmp);
    replace_in_file(dir + "/config.json", "\"intermediate_size\": 96", "\"intermediate_size\": 97");
    expect_error(dir, {"shape", "mlp"});
  }

  void hfTruncatedSafetensors() {
    QTemporaryDir tmp;
    const std::string dir = small_hf_model(tmp);
    const std::string st = dir + "/model.safetensors";
    write_bytes(st, read_file(st).substr(0, 1000));
    expect_error(dir, {"model.safetensors"});
  }

  void hfPickleOnly() {
    QTemporaryDir tmp;
    const std::string dir = small_hf_model(tmp);
    std::remove((dir + "/model.safetensors").c_str());
    write_bytes(dir + "/pytorch_model.bin", "PK");
    auto r = model_load(dir);
    QVERIFY(!r.is_ok());
    QCOMPARE(r.status().code(), StatusCode::kUnsupported);
  }

  void tokenizerVocabMismatch() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(tok_path, "models/tokenizer.model");
    auto model = model_load(model_path);
    QVERIFY(model.is_ok());
    auto tok = tokenizer_load(tok_path, 32000);
    QVERIFY2(tok.is_ok(), tok.status().to_string().c_str());
    Status s = model_check_tokenizer(*model.value(), *tok.value(), tok_path);
    QCOMPARE(s.code(), StatusCode::kInvalidInput);
    QVERIFY(s.message().find("tokenizer.model") != std::string::npos);
    QVERIFY(s.message().find("32000") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestModelErrors)
#include "tst_model_errors.moc"
