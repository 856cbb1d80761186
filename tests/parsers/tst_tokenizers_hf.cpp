// SPDX-License-Identifier: Apache-2.0
// Hugging Face tokenizer.json details on tiny hand-made files: the GPT-2 / LLaMA-3 / Qwen2 Split
// regex matchers, byte-level BPE with hand-computed ids, ignore_merges, added tokens, BOS from the
// post-processor or tokenizer_config.json, the Metaspace flavour, and every rejected input (each
// must return a non-OK status whose message names the file). To add a rejected tokenizer.json,
// add a row to rejected_json_data().
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/pretokenizer_regex.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"
#include "core/util/status.h"
#include "test_data.h"

using namespace ostq;
using nlohmann::json;

namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view text, SplitPattern p) {
  Pieces out;
  for (std::string_view s : split_pretokens(text, p)) out.emplace_back(s);
  return out;
}

QString show(const Pieces& pieces) {
  QStringList parts;
  for (const auto& p : pieces) parts << QString::fromStdString(json(p).dump());
  return parts.join(QStringLiteral(", "));
}

// Byte-level BPE: ids 0..255 are the bytes (in the byte-level alphabet), then these merges in
// rank order, each creating the next id from 256 on; then the extra vocabulary pieces; then
// <|begin_of_text|> as a special added token that the post-processor prepends.
const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"H", "e"},   {"l", "l"},  {"He", "ll"}, {"Hell", "o"}, {"\xC4\xA0", "w"},      // 256..260
    {"o", "r"},   {"\xC4\xA0w", "or"},       {"'", "s"},    {"1", "2"},  {"12", "3"},  // ..265
    {"\xC4\x8A", "\xC4\x8A"}, {"!", "!"},    {"\xC4\xA0", "x"},                        // ..268
};
constexpr int32_t kBos = 269;
constexpr int32_t kWholeWorld = 270;  // "Ġworld", reachable only with ignore_merges

json byte_level_json(const std::string& regex, bool ignore_merges, bool pair_merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_encode(std::string(1, static_cast<char>(b)))] = b;
  json merges = json::array();
  int32_t next = 256;
  for (const auto& [a, b] : kMerges) {
    vocab[a + b] = next++;
    merges.push_back(pair_merges ? json::array({a, b}) : json(a + " " + b));
  }
  vocab["\xC4\xA0world"] = kWholeWorld;
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array({json{{"id", kBos}, {"content", "<|begin_of_text|>"},
                                        {"special", true}, {"normalized", false}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = json{
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({json{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"},
                         {"invert", false}},
                    json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                         {"use_regex", false}}})}};
  j["post_processor"] = json{
      {"type", "Sequence"},
      {"processors",
       json::array({json{{"type", "ByteLevel"}, {"trim_offsets", false}},
                    json{{"type", "TemplateProcessing"},
                         {"single", json::array({json{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                                 json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens",
                          {{"<|begin_of_text|>",
                            {{"id", "<|begin_of_text|>"}, {"ids", {kBos}}, {"tokens", {"<|begin_of_text|>"}}}}}}}})}};
  j["decoder"] = json{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  j["model"] = json{{"type", "BPE"},          {"dropout", nullptr},     {"unk_token", nullptr},
                    {"byte_fallback", false}, {"fuse_unk", false},      {"ignore_merges", ignore_merges},
                    {"vocab", vocab},         {"merges", merges}};
  return j;
}

// A SentencePiece-style file with a Metaspace pre-tokenizer (older conversions).
json metaspace_json() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int32_t id = 259;
  for (const char* p : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"}) vocab[p] = id++;
  json j;
  j["added_tokens"] = json::array({json{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                   json{{"id", 1}, {"content", "<s>"}, {"special", true}},
                                   json{{"id", 2}, {"content", "</s>"}, {"special", true}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"add_prefix_space", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = json{
      {"type", "Sequence"},
      {"decoders", json::array({json{{"type", "ByteFallback"}},
                                json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"add_prefix_space", true}}})}};
  j["model"] = json{{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                    {"vocab", vocab},
                    {"merges", {"\xE2\x96\x81 a", "a b", "\xE2\x96\x81" "a b"}}};
  return j;
}

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  AtomicFile f(path);
  f.write(text);
  f.commit();
  return path;
}

std::unique_ptr<Tokenizer> load_json(const std::string& path) {
  auto t = tokenizer_load(path, 0);
  if (!t.is_ok()) qWarning("%s", t.status().to_string().c_str());
  return t.is_ok() ? std::move(t).value() : nullptr;
}

}  // namespace

class TestTokenizersHf : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void regex_is_recognised();
  void split_llama3_data();
  void split_llama3();
  void split_qwen2_and_gpt2();
  void byte_level_alphabet();
  void byte_level_bpe();
  void ignore_merges_and_pair_merges();
  void bos_from_tokenizer_config();
  void metaspace_flavour();
  void rejected_json_data();
  void rejected_json();
  void rejected_tokenizer_bin();
  void rejected_sentencepiece_model();
  void memory_entry_points_never_throw();
};

void TestTokenizersHf::regex_is_recognised() {
  for (SplitPattern p : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    QVERIFY(split_pattern_from_regex(split_pattern_regex(p)) == p);
  }
  QVERIFY(!split_pattern_from_regex("\\w+|\\s+").has_value());
}

void TestTokenizersHf::split_llama3_data() {
  QTest::addColumn<QString>("text");
  QTest::addColumn<QStringList>("expected");
  // Hand-traced through the regex alternatives (see pretokenizer_regex.cpp).
  QTest::newRow("brief") << QStringLiteral("Hello world's 12345 !!\n\n  x")
                         << QStringList{"Hello", " world", "'s", " ", "123", "45", " !!\n\n", " ", " x"};
  QTest::newRow("newlines") << QStringLiteral("a\n\n b") << QStringList{"a", "\n\n", " b"};
  QTest::newRow("trailing") << QStringLiteral("x   ") << QStringList{"x", "   "};
  QTest::newRow("contraction-ci") << QStringLiteral("I'M fine") << QStringList{"I", "'M", " fine"};
  QTest::newRow("digits") << QStringLiteral("3.14159") << QStringList{"3", ".", "141", "59"};
  QTest::newRow("space-digits") << QStringLiteral(" 42") << QStringList{" ", "42"};
  QTest::newRow("crlf") << QStringLiteral("hello\r\nworld") << QStringList{"hello", "\r\n", "world"};
  QTest::newRow("symbols") << QStringLiteral("foo!!\n\nbar") << QStringList{"foo", "!!\n\n", "bar"};
  QTest::newRow("unicode") << QString::fromUtf8("na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E")
                           << QStringList{QString::fromUtf8("na\xC3\xAFve"), QString::fromUtf8(" caf\xC3\xA9"),
                                          QString::fromUtf8(" \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E")};
  QTest::newRow("tab-word") << QStringLiteral("a\tb") << QStringList{"a", "\tb"};
  QTest::newRow("emoji") << QString::fromUtf8("hi \xF0\x9F\x99\x82\xF0\x9F\x99\x82!")
                         << QStringList{"hi", QString::fromUtf8(" \xF0\x9F\x99\x82\xF0\x9F\x99\x82!")};
}

void TestTokenizersHf::split_llama3() {
  QFETCH(QString, text);
  QFETCH(QStringList, expected);
  Pieces want;
  for (const QString& s : expected) want.push_back(s.toStdString());
  const Pieces got = split(text.toStdString(), SplitPattern::kLlama3);
  QVERIFY2(got == want, qPrintable(show(got)));
}

void TestTokenizersHf::split_qwen2_and_gpt2() {
  QCOMPARE(split("Hello world's 12345 !!\n\n  x", SplitPattern::kQwen2),
           (Pieces{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " !!\n\n", " ", " x"}));
  QCOMPARE(split("3.14159 I'M", SplitPattern::kQwen2),
           (Pieces{"3", ".", "1", "4", "1", "5", "9", " I", "'M"}));
  QCOMPARE(split("Hello world's 12345 !!\n\n  x", SplitPattern::kGpt2),
           (Pieces{"Hello", " world", "'s", " 12345", " !!", "\n\n ", " x"}));
  QCOMPARE(split("I'M 3.14", SplitPattern::kGpt2), (Pieces{"I", "'", "M", " 3", ".", "14"}));
  // Malformed UTF-8 bytes are symbols and the pieces still cover the input.
  const std::string bad = "a\xFF\xC3 b\x80";
  std::string joined;
  for (const auto& p : split(bad, SplitPattern::kLlama3)) joined += p;
  QCOMPARE(joined, bad);
}

void TestTokenizersHf::byte_level_alphabet() {
  QCOMPARE(byte_level_encode(" "), std::string("\xC4\xA0"));   // Ġ U+0120
  QCOMPARE(byte_level_encode("\n"), std::string("\xC4\x8A"));  // Ċ U+010A
  QCOMPARE(byte_level_encode("A~"), std::string("A~"));
  QCOMPARE(byte_level_code_point(0xAD), 0x143u);  // the last of the 68 remapped bytes
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  QCOMPARE(byte_level_decode(byte_level_encode(all)), all);
}

void TestTokenizersHf::byte_level_bpe() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string path = write(ostq_test::qstr(dir.path()), "tokenizer.json",
                                 byte_level_json(std::string(split_pattern_regex(SplitPattern::kLlama3)),
                                                 false, false).dump(1));
  const auto t = load_json(path);
  QVERIFY(t);
  QCOMPARE(QString::fromStdString(t->kind()), QStringLiteral("tokenizer.json (bpe, byte-level)"));
  QCOMPARE(t->vocab_size(), 271);
  QCOMPARE(t->bos_id(), kBos);
  // Pre-tokens Hello | Ġworld | 's | Ġ | 123 | 45 | Ġ!!ĊĊ | Ġ | Ġx, then, by rank:
  // Hello → 259; Ġworld → Ġw(260) or(261) → Ġwor(262) l d; 's → 263; Ġ → 32; 123 → 12(264) → 265;
  // 45 → 52 53; Ġ!!ĊĊ → ĊĊ(266, rank 10) before !!(267, rank 11); Ġx → 268.
  const std::string text = "Hello world's 12345 !!\n\n  x";
  const std::vector<int32_t> expected = {259, 262, 'l', 'd', 263, 32, 265, '4', '5', 32, 267, 266, 32, 268};
  QCOMPARE(t->encode(text, false), expected);
  std::vector<int32_t> with_bos = expected;
  with_bos.insert(with_bos.begin(), kBos);
  QCOMPARE(t->encode(text, true), with_bos);
  QCOMPARE(t->decode(with_bos), text);
  // Added tokens are matched verbatim in the text; special ones decode to nothing.
  QCOMPARE(t->encode("x<|begin_of_text|>x", false), (std::vector<int32_t>{'x', kBos, 'x'}));
  QCOMPARE(t->decode_piece(-1, kBos), std::string());
  // Any bytes survive the round trip (no byte fallback is needed).
  for (const std::string s : {std::string("caf\xC3\xA9 \xF0\x9F\x99\x82 \xE6\x97\xA5"),
                              std::string("\xFF\xFE raw \x00 bytes\r\n", 16), std::string("  ")}) {
    QCOMPARE(t->decode(t->encode(s, true)), s);
  }
}

void TestTokenizersHf::ignore_merges_and_pair_merges() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string d = ostq_test::qstr(dir.path());
  const std::string regex(split_pattern_regex(SplitPattern::kLlama3));
  // ["a", "b"] merge pairs give the same model as "a b" strings.
  const auto pairs = load_json(write(d, "pairs.json", byte_level_json(regex, false, true).dump()));
  const auto ignore = load_json(write(d, "ignore.json", byte_level_json(regex, true, false).dump()));
  QVERIFY(pairs && ignore);
  QCOMPARE(pairs->encode("Hello world", false), (std::vector<int32_t>{259, 262, 'l', 'd'}));
  // ignore_merges: a pre-token that is a vocabulary piece is emitted whole.
  QCOMPARE(ignore->encode("Hello world", false), (std::vector<int32_t>{259, kWholeWorld}));
  // Qwen2 pattern: one digit per pre-token, so "123" no longer merges.
  const auto qwen = load_json(write(
      d, "qwen.json", byte_level_json(std::string(split_pattern_regex(SplitPattern::kQwen2)), false, false).dump()));
  QVERIFY(qwen);
  QCOMPARE(qwen->encode("123", false), (std::vector<int32_t>{'1', '2', '3'}));
}

void TestTokenizersHf::bos_from_tokenizer_config() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string d = ostq_test::qstr(dir.path());
  const std::string regex(split_pattern_regex(SplitPattern::kLlama3));
  const std::string path = write(d, "tokenizer.json", byte_level_json(regex, false, false).dump());
  // add_bos_token false wins over the post-processor (as transformers rebuilds it).
  write(d, "tokenizer_config.json",
        R"({"add_bos_token": false, "bos_token": "<|begin_of_text|>", "eos_token": {"content": "!!"}})");
  auto t = load_json(path);
  QVERIFY(t);
  QCOMPARE(t->bos_id(), -1);
  QCOMPARE(t->eos_id(), 267);
  QCOMPARE(t->encode("x", true), std::vector<int32_t>{'x'});
  write(d, "tokenizer_config.json", "{not json");
  const auto bad = tokenizer_load(path, 0);
  QVERIFY(!bad.is_ok());
  QVERIFY2(bad.status().message().find("tokenizer_config.json") != std::string::npos,
           bad.status().message().c_str());
}

void TestTokenizersHf::metaspace_flavour() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const auto t = load_json(write(ostq_test::qstr(dir.path()), "tokenizer.json", metaspace_json().dump()));
  QVERIFY(t);
  QCOMPARE(QString::fromStdString(t->kind()), QStringLiteral("tokenizer.json (bpe, byte-fallback)"));
  // "ab ab" → ▁ab▁ab → split before ▁ → [▁ab, ▁ab]; "▁a b" is rank 2 after "▁ a" and "a b".
  QCOMPARE(t->encode("ab ab", false), (std::vector<int32_t>{264, 264}));
  // "c" has no piece: byte fallback <0x63>; "b" alone stays.
  QCOMPARE(t->encode("cb", false), (std::vector<int32_t>{259, 3 + 'c', 261}));
  QCOMPARE(t->decode(t->encode("ab cab", false)), std::string("ab cab"));
  QCOMPARE(t->bos_id(), -1);  // no post-processor, no tokenizer_config.json
}

void TestTokenizersHf::rejected_json_data() {
  QTest::addColumn<QString>("json_text");
  QTest::addColumn<int>("code");
  QTest::addColumn<QString>("needle");
  const auto row = [](const char* name, const json& j, StatusCode code, const char* needle) {
    QTest::newRow(name) << QString::fromStdString(j.dump()) << static_cast<int>(code)
                        << QString::fromUtf8(needle);
  };
  const std::string regex(split_pattern_regex(SplitPattern::kLlama3));
  const json good = byte_level_json(regex, false, false);
  QTest::newRow("not-json") << QStringLiteral("{\"model\": ") << static_cast<int>(StatusCode::kInvalidInput)
                            << QStringLiteral("JSON");
  row("not-an-object", json::array(), StatusCode::kInvalidInput, "top level");
  json j = good;
  j["model"]["type"] = "WordPiece";
  row("unknown-model-type", j, StatusCode::kUnsupported, "WordPiece");
  j = good;
  j.erase("model");
  row("missing-model", j, StatusCode::kInvalidInput, "model");
  j = good;
  j["model"].erase("vocab");
  row("missing-vocab", j, StatusCode::kInvalidInput, "vocab");
  j = good;
  j["model"]["vocab"]["H"] = -1;
  row("negative-id", j, StatusCode::kInvalidInput, "out of range");
  j = good;
  j["model"]["vocab"]["H"] = 1000000000;
  row("huge-id", j, StatusCode::kInvalidInput, "out of range");
  j = good;
  j["model"]["vocab"]["H"] = "seven";
  row("string-id", j, StatusCode::kInvalidInput, "integer");
  j = good;
  j["model"]["vocab"]["zz"] = 5;
  row("duplicate-id", j, StatusCode::kInvalidInput, "used by both");
  j = good;
  j["added_tokens"][0]["id"] = 99999999;
  row("added-token-out-of-range", j, StatusCode::kInvalidInput, "out of range");
  j = good;
  j["model"]["merges"].push_back("no_such_piece x");
  row("merge-unknown-piece", j, StatusCode::kInvalidInput, "no_such_piece");
  j = good;
  j["model"]["merges"].push_back("a b c");
  row("merge-three-parts", j, StatusCode::kInvalidInput, "merges");
  j = good;
  j["model"]["merges"].push_back("x y");  // "xy" is not in the vocabulary
  row("merge-result-unknown", j, StatusCode::kInvalidInput, "xy");
  j = good;
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  row("unknown-regex", j, StatusCode::kUnsupported, "Split pattern");
  j = good;
  j["pre_tokenizer"] = json{{"type", "BertPreTokenizer"}};
  row("unknown-pre-tokenizer", j, StatusCode::kUnsupported, "BertPreTokenizer");
  j = good;
  j["normalizer"] = json{{"type", "Lowercase"}};
  row("unknown-normalizer", j, StatusCode::kUnsupported, "Lowercase");
  j = good;
  j["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"][0] = 5000;
  row("template-id-out-of-range", j, StatusCode::kInvalidInput, "5000");
  j = good;
  j["model"]["dropout"] = 0.1;
  row("dropout", j, StatusCode::kUnsupported, "dropout");
}

void TestTokenizersHf::rejected_json() {
  QFETCH(QString, json_text);
  QFETCH(int, code);
  QFETCH(QString, needle);
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string path = write(ostq_test::qstr(dir.path()), "bad_tokenizer.json", json_text.toStdString());
  const auto t = tokenizer_load(path, 0);
  QVERIFY(!t.is_ok());
  const std::string msg = t.status().message();
  QVERIFY2(static_cast<int>(t.status().code()) == code, msg.c_str());
  QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());
  QVERIFY2(msg.find(needle.toStdString()) != std::string::npos, msg.c_str());
}

void TestTokenizersHf::rejected_tokenizer_bin() {
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  const std::string good = read_file(bin);
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string d = ostq_test::qstr(dir.path());
  const auto expect_error = [](const std::string& path, int32_t vocab, const char* needle) {
    const auto t = tokenizer_load(path, vocab);
    QVERIFY(!t.is_ok());
    const std::string msg = t.status().message();
    QVERIFY2(t.status().code() == StatusCode::kInvalidInput, msg.c_str());
    QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());
    QVERIFY2(msg.find(needle) != std::string::npos, msg.c_str());
  };
  expect_error(write(d, "truncated.bin", good.substr(0, 1000)), 512, "truncated");
  expect_error(write(d, "tiny.bin", good.substr(0, 2)), 512, "truncated");
  expect_error(write(d, "tok512.bin", good), 511, "trailing bytes");
  expect_error(d + "/tok512.bin", 513, "truncated");
  expect_error(d + "/tok512.bin", 0, "vocab_size");
  expect_error(d + "/tok512.bin", 100, "vocab_size");
  std::string negative = good;
  const int32_t minus = -5;
  std::memcpy(&negative[4 + 4], &minus, 4);  // length of entry 0
  expect_error(write(d, "negative.bin", negative), 512, "length -5");
  std::string huge = good;
  const int32_t big = 1 << 30;
  std::memcpy(&huge[0], &big, 4);  // max_token_length
  expect_error(write(d, "huge.bin", huge), 512, "max_token_length");
  QVERIFY(tokenizer_load(d + "/tok512.bin", 512).is_ok());
}

void TestTokenizersHf::rejected_sentencepiece_model() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string d = ostq_test::qstr(dir.path());
  for (const std::string& garbage : {std::string("this is not a protobuf at all \xFF\xFF\xFF"),
                                     std::string(), std::string("\x0A\x05hello", 7)}) {
    const std::string path = write(d, "garbage.model", garbage);
    const auto t = tokenizer_load(path, 0);
    QVERIFY(!t.is_ok());
    QVERIFY2(t.status().code() == StatusCode::kInvalidInput, t.status().to_string().c_str());
    QVERIFY2(t.status().message().find(path) != std::string::npos, t.status().message().c_str());
  }
}

void TestTokenizersHf::memory_entry_points_never_throw() {
  for (TokenizerFormat f : {TokenizerFormat::kLlama2cBin, TokenizerFormat::kSentencePiece,
                            TokenizerFormat::kHfJson}) {
    for (const std::string& bytes : {std::string(), std::string("\x07\x00\x00\x00", 4),
                                     std::string("{\"model\": {\"type\": \"BPE\", \"vocab\": []}}")}) {
      const auto t = tokenizer_load_from_memory(f, bytes, "mem", 512);
      QVERIFY(!t.is_ok());
      QVERIFY2(t.status().message().find("mem") != std::string::npos, t.status().message().c_str());
    }
  }
}

QTEST_GUILESS_MAIN(TestTokenizersHf)
#include "tst_tokenizers_hf.moc"
