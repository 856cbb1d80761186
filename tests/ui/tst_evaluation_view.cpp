// SPDX-License-Identifier: Apache-2.0
// The evaluation view drives the real core on the engine worker with stories260K: perplexity of
// the FP model and of an RTN W4 bundle on a short TinyStories text (finite, FP row first, gap
// against it), the `ostq compare` table for rtn × 4-16-16, and greedy generation of FP and the
// bundle side by side. QAbstractItemModelTester watches both table models throughout.
#include <QAbstractItemModelTester>
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>

#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/quant/quantized_io.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"
#include "test_data.h"
#include "ui/compare_panel.h"
#include "ui/compare_table_model.h"
#include "ui/engine_worker.h"
#include "ui/evaluation_view.h"
#include "ui/generation_panel.h"
#include "ui/perplexity_panel.h"
#include "ui/perplexity_table_model.h"

using namespace ostq;

namespace {

// Quantizes stories260K with RTN at `bits` and saves the bundle in `dir`.
void write_bundle(const std::shared_ptr<Model>& m, const std::string& bits, const std::string& dir) {
  QuantizeOptions o;
  o.method = method_spec_parse("rtn").value();
  o.config = quant_config_parse(bits, m->config.head_dim).value();
  Result<QuantizedModel> q = quantize_model(*m, o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  quantized_model_save(q.value(), dir, tokenizer_find_for_model(m->path));
}

}  // namespace

class TestEvaluationView : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void models_satisfy_the_item_model_contract() {
    PerplexityTableModel ppl;
    QAbstractItemModelTester t1(&ppl, QAbstractItemModelTester::FailureReportingMode::QtTest);
    PerplexityTableModel::Row q;
    q.path = QStringLiteral("/b");
    q.ppl = 6.0;
    ppl.setRow(q);
    PerplexityTableModel::Row fp;
    fp.path = QStringLiteral("/m");
    fp.fp = true;
    fp.ppl = 5.0;
    ppl.setRow(fp);  // goes first
    QCOMPARE(ppl.rowCount(), 2);
    QCOMPARE(ppl.index(1, PerplexityTableModel::kGap).data().toString(), QStringLiteral("+20.0%"));
    q.ppl = 5.5;
    ppl.setRow(q);  // replaces
    QCOMPARE(ppl.rowCount(), 2);
    QCOMPARE(ppl.index(1, PerplexityTableModel::kGap).data(Qt::EditRole).toDouble(), 0.1);
    ppl.clear();
    QCOMPARE(ppl.rowCount(), 0);
    CompareTableModel cmp;
    QAbstractItemModelTester t2(&cmp, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(cmp.rowCount(), 0);
  }

  void perplexity_compare_and_generation() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    auto model = model_load(model_path).value();
    const std::string bundle = ostq_test::qstr(tmp.path()) + "/rtn-w4";
    write_bundle(model, "4-16-16", bundle);
    const std::string text = ostq_test::qstr(tmp.path()) + "/eval.txt";
    std::ofstream(text) << read_file(data).substr(0, 60000);

    EngineWorker worker;
    EvaluationView view(&worker);
    PerplexityPanel* ppl = view.perplexity();
    ComparePanel* cmp = view.comparison();
    GenerationPanel* gen = view.generation();
    QAbstractItemModelTester t1(ppl->table(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(cmp->table(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    view.setModel(model, QString::fromStdString(model_path));
    view.addBundle(QString::fromStdString(bundle));
    view.setData(QString::fromStdString(text));

    // (a) perplexity: FP and the bundle, 4 windows × 128 tokens each.
    ppl->setWindows(4, 128);
    QSignalSpy evaluated(ppl, &PerplexityPanel::evaluationFinished);
    ppl->run();
    QVERIFY(ppl->running());
    QVERIFY(evaluated.wait(60000));
    QVERIFY2(evaluated.first().at(0).toBool(), qPrintable(evaluated.first().at(1).toString()));
    QCOMPARE(ppl->table()->rowCount(), 2);
    const auto& rows = ppl->table()->rows();
    QVERIFY(rows[0].fp);
    QCOMPARE(rows[1].path, QString::fromStdString(bundle));
    QCOMPARE(rows[1].method, QStringLiteral("rtn"));
    for (const auto& r : rows) {
      QVERIFY(std::isfinite(r.ppl) && r.ppl > 1.0);
      QCOMPARE(r.windows, qint64(4));
      QCOMPARE(r.seqlen, qint64(128));
    }
    QVERIFY(rows[1].ppl != rows[0].ppl);  // the quantizers did run
    qInfo("ppl FP %.4f, rtn W4 %.4f", rows[0].ppl, rows[1].ppl);

    // (b) the comparison table: FP + rtn at 4-16-16.
    cmp->setMethods({QStringLiteral("rtn")});
    cmp->setBits({QStringLiteral("4-16-16")});
    cmp->setWindows(8, 4, 128);
    QSignalSpy compared(cmp, &ComparePanel::compareFinished);
    cmp->run();
    QVERIFY(compared.wait(60000));
    QVERIFY2(compared.first().at(0).toBool(), qPrintable(compared.first().at(1).toString()));
    QCOMPARE(cmp->table()->rowCount(), 2);
    QVERIFY(cmp->table()->rows()[0].fp);
    QCOMPARE(cmp->table()->rows()[1].method, QStringLiteral("rtn"));
    QVERIFY(std::isfinite(cmp->table()->rows()[1].ppl) && cmp->table()->rows()[1].ppl > 1.0);

    // (c) generation: the bundle added above is offered; both panes get text.
    gen->setPrompt(QStringLiteral("Once upon a time"));
    gen->setSteps(40);
    QSignalSpy generated(gen, &GenerationPanel::generationFinished);
    gen->run();
    QVERIFY(generated.wait(60000));
    QVERIFY2(generated.first().at(0).toBool(), qPrintable(generated.first().at(1).toString()));
    QVERIFY2(gen->fpText().startsWith(QStringLiteral("Once upon a time")), qPrintable(gen->fpText()));
    QVERIFY2(gen->quantizedText().startsWith(QStringLiteral("Once upon a time")), qPrintable(gen->quantizedText()));
    QVERIFY(gen->fpText().size() > 30 && gen->quantizedText().size() > 30);
  }

  void cancel_stops_the_evaluation() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    EngineWorker worker;
    EvaluationView view(&worker);
    view.setModel(model_load(model_path).value(), QString::fromStdString(model_path));
    view.setData(QString::fromStdString(data));  // the whole file: long enough to cancel
    PerplexityPanel* ppl = view.perplexity();
    ppl->setWindows(0, 128);
    QSignalSpy evaluated(ppl, &PerplexityPanel::evaluationFinished);
    QSignalSpy started(&worker, &EngineWorker::jobStarted);
    ppl->run();
    // jobStarted comes from the worker thread straight into the spy: it may already be there.
    QTRY_VERIFY_WITH_TIMEOUT(!started.isEmpty(), 10000);
    ppl->cancel();
    QVERIFY(evaluated.wait(60000));
    QCOMPARE(evaluated.first().at(0).toBool(), false);
    QCOMPARE(evaluated.first().at(2).toBool(), true);
    QCOMPARE(ppl->table()->rowCount(), 0);
  }
};

QTEST_MAIN(TestEvaluationView)
#include "tst_evaluation_view.moc"
