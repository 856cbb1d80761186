// SPDX-License-Identifier: Apache-2.0
// Perplexity of stories260K against the independent fp32 reference of shared/data/README.md,
// bf16 within 1% of fp32, and clear errors for bad data files.
#include <QtTest/QtTest>

#include <fstream>

#include "core/engine/runtime.h"
#include "core/eval/perplexity.h"
#include "core/model/model.h"
#include "test_data.h"

using namespace ostq;

class TestPerplexity : public QObject {
  Q_OBJECT
 private:
  std::shared_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;

  bool ready() { return model_ && tok_; }

 private Q_SLOTS:
  void initTestCase() {
    runtime_init();
    const std::string m = ostq_test::shared_path("models/stories260K.bin");
    const std::string t = ostq_test::shared_path("models/tok512.model");
    if (!file_exists(m) || !file_exists(t)) return;
    model_ = model_load(m).value();
    auto tok = tokenizer_load(t, 512);
    QVERIFY2(tok.is_ok(), tok.status().to_string().c_str());
    tok_ = std::move(tok).value();
  }

  // Reference: 393,013 tokens with BOS, 767 windows of 512, 391,937 predicted, PPL 5.047.
  void tinyStoriesMatchesReference() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    PerplexityOptions o;
    o.seqlen = 512;
    auto r = perplexity_evaluate_file(*model_, *tok_, data, o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    QCOMPARE(r->tokens, int64_t{393013});
    QCOMPARE(r->windows, int64_t{767});
    QCOMPARE(r->predicted, int64_t{391937});
    QVERIFY2(std::abs(r->ppl - 5.047) < 0.001, qPrintable(QString::number(r->ppl, 'f', 5)));
  }

  void bf16WithinOnePercent() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    PerplexityOptions o;
    o.seqlen = 512;
    o.max_windows = 200;
    auto fp32 = perplexity_evaluate_file(*model_, *tok_, data, o);
    LoadOptions lo;
    lo.dtype = ComputeDType::kBFloat16;
    auto b16_model = model_load(model_->path, lo).value();
    auto bf16 = perplexity_evaluate_file(*b16_model, *tok_, data, o);
    QVERIFY(fp32.is_ok() && bf16.is_ok());
    const double rel = std::abs(bf16->ppl / fp32->ppl - 1.0);
    QVERIFY2(rel < 0.01, qPrintable(QString("fp32 %1 bf16 %2").arg(fp32->ppl).arg(bf16->ppl)));
  }

  void batchDoesNotChangeResult() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    PerplexityOptions o;
    o.seqlen = 256;
    o.max_windows = 12;
    auto one = perplexity_evaluate_file(*model_, *tok_, data, o);
    o.batch = 5;
    auto five = perplexity_evaluate_file(*model_, *tok_, data, o);
    QVERIFY(one.is_ok() && five.is_ok());
    QVERIFY(std::abs(one->ppl - five->ppl) < 1e-4 * one->ppl);
  }

  void rowsProtocolJoinsWithBlankLines() {
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/rows.txt";
    std::ofstream(path) << " = A = \n \nText one.\n";
    QCOMPARE(QString::fromStdString(load_eval_text(path, TextProtocol::kRows)),
             QString(" = A = \n\n\n\n\nText one.\n"));  // row, "", row
  }

  void cancelStopsEvaluation() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    PerplexityOptions o;
    o.seqlen = 128;
    int calls = 0;
    o.progress = [&](const Progress& p) { return p.stage != "evaluate" || ++calls < 3; };
    auto r = perplexity_evaluate_file(*model_, *tok_, data, o);
    QVERIFY(!r.is_ok());
    QVERIFY(r.status().is_cancelled());
  }

  void badDataFiles_data() {
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("empty") << QByteArray() << "empty";
    QTest::newRow("whitespace") << QByteArray(" \n\n  \n") << "empty";
    QTest::newRow("not-utf8") << QByteArray("hello \xff\xfe world") << "UTF-8";
    QTest::newRow("too-short") << QByteArray("Once upon a time.") << "not enough";
  }
  void badDataFiles() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    QFETCH(QByteArray, content);
    QFETCH(QString, fragment);
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/bad.txt";
    std::ofstream(path, std::ios::binary).write(content.constData(), content.size());
    PerplexityOptions o;
    o.seqlen = 512;
    auto r = perplexity_evaluate_file(*model_, *tok_, path, o);
    QVERIFY(!r.is_ok());
    QCOMPARE(r.status().code(), StatusCode::kInvalidInput);
    const QString msg = QString::fromStdString(r.status().message());
    QVERIFY2(msg.contains(fragment), qPrintable(msg));
  }

  void seqlenBeyondContextRejected() {
    if (!ready()) QSKIP("stories260K / tok512.model absent");
    PerplexityOptions o;
    o.seqlen = 4096;
    auto r = perplexity_evaluate_tokens(*model_, std::vector<int32_t>(9000, 5), o);
    QVERIFY(!r.is_ok());
    QVERIFY(r.status().message().find("context") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestPerplexity)
#include "tst_perplexity.moc"
