// SPDX-License-Identifier: Apache-2.0
// Tokenizers against the shared files: llama2.c tokenizer.bin versus SentencePiece *.model, the
// reference token counts of tinystories_val.txt (shared/data/README.md), tokenizer.json written
// from a SentencePiece vocabulary versus the llama2.c encoder, synthetic vocabularies, decode
// round trips and tokenizer discovery. Byte-level BPE and rejected inputs: tst_tokenizers_hf.cpp.
#include <QtTest/QtTest>

#include <string>
#include <vector>

#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_json_writer.h"
#include "core/util/file_util.h"
#include "core/util/status.h"
#include "test_data.h"

using namespace ostq;

namespace {

std::unique_ptr<Tokenizer> load_or_fail(const std::string& path, int32_t vocab_size) {
  auto t = tokenizer_load(path, vocab_size);
  if (!t.is_ok()) qWarning("%s", t.status().to_string().c_str());
  return t.is_ok() ? std::move(t).value() : nullptr;
}

// "" when equal, else where and how the sequences first differ.
std::string mismatch(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  if (a == b) return {};
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  std::string s = "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
                  ", first difference at " + std::to_string(i) + ":";
  for (size_t k = i; k < i + 5 && k < a.size(); ++k) s += " " + std::to_string(a[k]);
  s += " |";
  for (size_t k = i; k < i + 5 && k < b.size(); ++k) s += " " + std::to_string(b[k]);
  return s;
}

// The text up to the last "\n\n" at or before `bytes` (a story boundary).
std::string prefix_at_boundary(const std::string& text, size_t bytes) {
  const size_t cut = text.rfind("\n\n", bytes);
  return text.substr(0, cut == std::string::npos ? bytes : cut + 2);
}

// A llama2.c tokenizer.bin image of a SentencePiece vocabulary (as llama2.c tokenizer.py writes
// it: "▁" → space, BOS/EOS as "\n<s>\n" / "\n</s>\n").
std::string llama2c_image(const SentencePieceVocab& v) {
  std::vector<std::string> pieces(v.pieces.size());
  int32_t max_len = 0;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    std::string p = v.pieces[i];
    if (static_cast<int32_t>(i) == v.bos_id) p = "\n<s>\n";
    if (static_cast<int32_t>(i) == v.eos_id) p = "\n</s>\n";
    for (size_t pos; (pos = p.find("\xE2\x96\x81")) != std::string::npos;) p.replace(pos, 3, " ");
    max_len = std::max<int32_t>(max_len, static_cast<int32_t>(p.size()));
    pieces[i] = p;
  }
  std::string out(reinterpret_cast<const char*>(&max_len), 4);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const int32_t len = static_cast<int32_t>(pieces[i].size());
    out.append(reinterpret_cast<const char*>(&v.scores[i]), 4);
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += pieces[i];
  }
  return out;
}

const char* const kSentences[] = {
    "Hello world",
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park. \"Wow!\" said Tom.",
    "caf\xC3\xA9 na\xC3\xAFve \xE2\x98\x95 \xF0\x9F\x99\x82 \xE6\x97\xA5\xE6\x9C\xAC",
    "x",
    "line one\nline two\n\nend",
};

}  // namespace

class TestTokenizers : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void llama2c_matches_sentencepiece();
  void llama2c_tinystories_prefix_matches_sentencepiece();
  void reference_token_counts();
  void llama2c_encoder_is_fast();
  void llama2c_decode_rules();
  void round_trips();
  void json_from_tok512_matches_llama2c();
  void json_from_llama2_vocab_matches_llama2c();
  void synthetic_vocab_data();
  void synthetic_vocab();
  void find_for_model();
};

void TestTokenizers::llama2c_matches_sentencepiece() {
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  OSTQ_REQUIRE_SHARED(model, "models/tok512.model");
  const auto a = load_or_fail(bin, 512);
  const auto b = load_or_fail(model, 0);
  QVERIFY(a && b);
  QCOMPARE(a->vocab_size(), 512);
  QCOMPARE(b->vocab_size(), 512);
  QCOMPARE(b->bos_id(), 1);
  QCOMPARE(b->eos_id(), 2);
  QCOMPARE(QString::fromStdString(a->kind()), QStringLiteral("llama2.c tokenizer.bin"));
  QCOMPARE(QString::fromStdString(b->kind()), QStringLiteral("sentencepiece"));
  // tok512: the dummy-prefix piece " " is id 410 (FORMATS.md §2); "\n" has no piece: <0x0A>.
  QCOMPARE(a->encode("\n", false), (std::vector<int32_t>{410, 3 + '\n'}));
  QCOMPARE(a->encode("\n", true), (std::vector<int32_t>{1, 410, 3 + '\n'}));
  QVERIFY(a->encode("", false).empty());
  QCOMPARE(a->encode("", true), std::vector<int32_t>{1});
  for (const char* s : kSentences) {
    for (bool bos : {false, true}) {
      const std::string diff = mismatch(a->encode(s, bos), b->encode(s, bos));
      QVERIFY2(diff.empty(), (std::string(s) + ": " + diff).c_str());
    }
  }
}

void TestTokenizers::llama2c_tinystories_prefix_matches_sentencepiece() {
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  OSTQ_REQUIRE_SHARED(model, "models/tok512.model");
  OSTQ_REQUIRE_SHARED(text_path, "data/tinystories_val.txt");
  const auto a = load_or_fail(bin, 512);
  const auto b = load_or_fail(model, 0);
  QVERIFY(a && b);
  // tok512.model has remove_extra_whitespaces=1: it drops leading and trailing spaces (U+0020)
  // and collapses runs of them. The first 8 KB have no such spaces, so the encodings agree.
  const std::string text = prefix_at_boundary(read_file(text_path), 8192);
  QVERIFY(text.find("  ") == std::string::npos);
  const std::string diff = mismatch(a->encode(text, true), b->encode(text, true));
  QVERIFY2(diff.empty(), diff.c_str());
}

void TestTokenizers::reference_token_counts() {
  OSTQ_REQUIRE_SHARED(tok512, "models/tok512.model");
  OSTQ_REQUIRE_SHARED(llama, "models/tokenizer.model");
  OSTQ_REQUIRE_SHARED(text_path, "data/tinystories_val.txt");
  const std::string text = read_file(text_path);
  const auto small = load_or_fail(tok512, 512);
  const auto big = load_or_fail(llama, 32000);
  QVERIFY(small && big);
  // shared/data/README.md: the whole file as one string.
  QCOMPARE(small->encode(text, false).size(), size_t{393012});
  QCOMPARE(small->encode(text, true).size(), size_t{393013});
  QCOMPARE(big->encode(text, false).size(), size_t{212397});
}

void TestTokenizers::llama2c_encoder_is_fast() {
  OSTQ_REQUIRE_SHARED(tok512, "models/tok512.bin");
  OSTQ_REQUIRE_SHARED(llama, "models/tokenizer.bin");
  OSTQ_REQUIRE_SHARED(text_path, "data/tinystories_val.txt");
  const std::string text = read_file(text_path);
  for (const auto& [path, vocab] : {std::pair{tok512, 512}, std::pair{llama, 32000}}) {
    const auto t = load_or_fail(path, vocab);
    QVERIFY(t);
    QElapsedTimer timer;
    timer.start();
    const auto ids = t->encode(text, true);
    const qint64 ms = timer.elapsed();
    qInfo("%s: %zu tokens for %zu bytes in %lld ms", path_filename(path).c_str(), ids.size(),
          text.size(), static_cast<long long>(ms));
    QVERIFY2(ms < 2000, "the llama2.c encoder should take well under 2 s for 800 KB");
    QCOMPARE(t->decode(ids), text);
  }
}

void TestTokenizers::llama2c_decode_rules() {
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  const auto t = load_or_fail(bin, 512);
  QVERIFY(t);
  const auto* l = dynamic_cast<const Llama2cTokenizer*>(t.get());
  QVERIFY(l != nullptr);
  QCOMPARE(l->max_token_length(), 7);
  QCOMPARE(QByteArray::fromStdString(l->piece(1)), QByteArray("\n<s>\n"));
  const int32_t space = l->find(" ");
  QCOMPARE(space, 410);
  QCOMPARE(t->decode_piece(1, space), std::string());    // leading space dropped after BOS
  QCOMPARE(t->decode_piece(5, space), std::string(" "));
  QCOMPARE(t->decode_piece(5, 3 + '\n'), std::string("\n"));  // <0x0A> is the raw byte
  QCOMPARE(t->decode_piece(5, 3), std::string(1, '\0'));
  QCOMPARE(t->decode_piece(5, 1), std::string());  // BOS / EOS contribute nothing
  QCOMPARE(t->decode_piece(5, 2), std::string());
  QCOMPARE(t->decode_piece(5, 512), std::string());  // out of range
  QCOMPARE(t->decode_piece(5, -7), std::string());
}

void TestTokenizers::round_trips() {
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  OSTQ_REQUIRE_SHARED(model, "models/tok512.model");
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string json = ostq_test::qstr(dir.path()) + "/tokenizer.json";
  const auto vocab = sentencepiece_vocab_load(model, 0);
  QVERIFY2(vocab.is_ok(), vocab.status().to_string().c_str());
  const Status st = write_tokenizer_json_from_sentencepiece(vocab.value(), json);
  QVERIFY2(st.is_ok(), st.to_string().c_str());
  const auto l = load_or_fail(bin, 512);
  const auto s = load_or_fail(model, 0);
  const auto h = load_or_fail(json, 512);
  QVERIFY(l && s && h);
  const std::vector<std::string> exact = {
      " leading space", "two  spaces and trailing ", "\n\nnewlines first", "tab\there",
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 accents \xC3\xA9\xC3\xA8\xC3\xB1 \xC3\x85ngstr\xC3\xB6m",
      "\xE4\xB8\xAD\xE6\x96\x87 and \xD0\xBA\xD0\xB8\xD1\x80\xD0\xB8\xD0\xBB\xD0\xBB\xD0\xB8\xD1\x86\xD0\xB0",
      "bytes \x01\x7F end", std::string("nul \0 inside", 12)};
  for (const char* sentence : kSentences) {
    for (bool bos : {false, true}) {
      QCOMPARE(l->decode(l->encode(sentence, bos)), std::string(sentence));
      QCOMPARE(s->decode(s->encode(sentence, bos)), std::string(sentence));
      QCOMPARE(h->decode(h->encode(sentence, bos)), std::string(sentence));
    }
  }
  // SentencePiece collapses spaces (remove_extra_whitespaces), so only the exact encoders here.
  for (const std::string& x : exact) {
    for (bool bos : {false, true}) {
      QCOMPARE(l->decode(l->encode(x, bos)), x);
      QCOMPARE(h->decode(h->encode(x, bos)), x);
    }
  }
  QCOMPARE(s->decode(s->encode("a  b ", false)), std::string("a b"));
}

void TestTokenizers::json_from_tok512_matches_llama2c() {
  // The reference is the llama2.c encoder, not the SentencePiece library: tokenizer.json (like
  // llama2.c) never collapses whitespace, while tok512.model has remove_extra_whitespaces=1.
  OSTQ_REQUIRE_SHARED(bin, "models/tok512.bin");
  OSTQ_REQUIRE_SHARED(model, "models/tok512.model");
  OSTQ_REQUIRE_SHARED(text_path, "data/tinystories_val.txt");
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string json = ostq_test::qstr(dir.path()) + "/tokenizer.json";
  const auto vocab = sentencepiece_vocab_load(model, 0);
  QVERIFY(vocab.is_ok());
  QVERIFY(write_tokenizer_json_from_sentencepiece(vocab.value(), json).is_ok());
  const auto l = load_or_fail(bin, 512);
  const auto h = load_or_fail(json, 0);
  QVERIFY(l && h);
  QCOMPARE(QString::fromStdString(h->kind()), QStringLiteral("tokenizer.json (bpe, byte-fallback)"));
  QCOMPARE(h->vocab_size(), 512);
  QCOMPARE(h->bos_id(), 1);
  QCOMPARE(h->eos_id(), 2);
  const std::string all = read_file(text_path);
  // ~100 KB, and the slice with the file's first doubled and trailing spaces.
  const std::string head = prefix_at_boundary(all, 100000);
  const size_t odd = all.find("  ");
  QVERIFY(odd != std::string::npos);
  const std::string middle = all.substr(all.rfind("\n\n", odd) + 2, 20000);
  for (const std::string* text : {&head, &middle}) {
    for (bool bos : {false, true}) {
      const std::string diff = mismatch(l->encode(*text, bos), h->encode(*text, bos));
      QVERIFY2(diff.empty(), diff.c_str());
    }
  }
  for (const char* s : kSentences) QCOMPARE(h->encode(s, true), l->encode(s, true));
}

void TestTokenizers::json_from_llama2_vocab_matches_llama2c() {
  OSTQ_REQUIRE_SHARED(bin, "models/tokenizer.bin");
  OSTQ_REQUIRE_SHARED(model, "models/tokenizer.model");
  OSTQ_REQUIRE_SHARED(text_path, "data/tinystories_val.txt");
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string json = ostq_test::qstr(dir.path()) + "/tokenizer.json";
  const auto vocab = sentencepiece_vocab_load(model, 0);
  QVERIFY(vocab.is_ok());
  QCOMPARE(vocab.value().pieces.size(), size_t{32000});
  QVERIFY(write_tokenizer_json_from_sentencepiece(vocab.value(), json).is_ok());
  const auto l = load_or_fail(bin, 32000);
  const auto h = load_or_fail(json, 32000);
  QVERIFY(l && h);
  // The 32k vocabulary read from tokenizer.bin converts to the same pieces as the .model.
  const auto from_bin = sentencepiece_vocab_load(bin, 32000);
  QVERIFY(from_bin.is_ok());
  QVERIFY(from_bin.value().pieces == vocab.value().pieces);
  QVERIFY(from_bin.value().scores == vocab.value().scores);
  const std::string text = prefix_at_boundary(read_file(text_path), 50000) +
                           "  Two  spaces, caf\xC3\xA9, \xF0\x9F\x99\x82, \xE6\x97\xA5\xE6\x9C\xAC.\n";
  const std::string diff = mismatch(l->encode(text, true), h->encode(text, true));
  QVERIFY2(diff.empty(), diff.c_str());
}

void TestTokenizers::synthetic_vocab_data() {
  QTest::addColumn<int>("vocab_size");
  for (int v : {300, 301, 512, 4096, 32000, 50257}) {
    QTest::newRow(std::to_string(v).c_str()) << v;
  }
}

void TestTokenizers::synthetic_vocab() {
  QFETCH(int, vocab_size);
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string json = ostq_test::qstr(dir.path()) + "/tokenizer.json";
  const Status st = write_synthetic_tokenizer_json(vocab_size, json);
  QVERIFY2(st.is_ok(), st.to_string().c_str());
  const auto h = load_or_fail(json, vocab_size);
  QVERIFY(h);
  QCOMPARE(h->vocab_size(), vocab_size);
  QCOMPARE(h->bos_id(), 1);
  QCOMPARE(h->eos_id(), 2);
  // Encoding with the written file equals the llama2.c encoder over the same vocabulary.
  const SentencePieceVocab v = sentencepiece_vocab_synthetic(vocab_size);
  const auto l = Llama2cTokenizer::parse(llama2c_image(v), vocab_size, "synthetic.bin");
  const std::string text =
      "Once upon a time, there was a little girl named Lily. She saw a big dog in the park!\n\n"
      "\"Hello,\" said Tom. 42 + 17 = 59; caf\xC3\xA9 \xF0\x9F\x99\x82  end ";
  const auto ids = h->encode(text, true);
  QCOMPARE(ids.front(), 1);
  const std::string diff = mismatch(ids, l->encode(text, true));
  QVERIFY2(diff.empty(), diff.c_str());
  QCOMPARE(h->decode(ids), text);
  for (int32_t id : ids) QVERIFY(id >= 0 && id < vocab_size);
  if (vocab_size >= 4096) QVERIFY(ids.size() < text.size() / 2);  // merges do happen
  QVERIFY(!write_synthetic_tokenizer_json(299, json + ".small").is_ok());
}

void TestTokenizers::find_for_model() {
  OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
  // Beside stories260K.bin lie tokenizer.bin (32k) and tok512.bin: only tok512 fits vocab 512.
  QCOMPARE(QString::fromStdString(path_filename(tokenizer_find_for_model(model))),
           QStringLiteral("tok512.bin"));
  QCOMPARE(QString::fromStdString(path_filename(tokenizer_find_for_model(model, 32000))),
           QStringLiteral("tokenizer.bin"));
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string d = ostq_test::qstr(dir.path());
  QCOMPARE(tokenizer_find_for_model(d), std::string());
  QVERIFY(write_synthetic_tokenizer_json(300, d + "/tokenizer.json").is_ok());
  QCOMPARE(tokenizer_find_for_model(d), d + "/tokenizer.json");
  // Unknown extensions and directories are reported with the path.
  const auto bad = tokenizer_load(d + "/vocab.txt", 0);
  QVERIFY(!bad.is_ok());
  QVERIFY(bad.status().message().find("vocab.txt") != std::string::npos);
  const auto missing = tokenizer_load(d + "/absent.model", 0);
  QVERIFY(!missing.is_ok());
  QVERIFY(missing.status().message().find("absent.model") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestTokenizers)
#include "tst_tokenizers.moc"
