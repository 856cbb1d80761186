// SPDX-License-Identifier: Apache-2.0
// The real MainWindow on stories260K: open the model, analyze a few windows of a text through the
// worker, select a site (the distribution charts hold data before and after rotation), the QSUR
// chart has one point per layer, the worst-10 filter, save the analysis to .ostq.h5 and browse it
// in a fresh window without the model (same tree), window state round trip, cancel,
// and bad files ending in an error signal (never a crash). Skips when the shared files are absent.
#include <QAbstractItemModelTester>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QUrl>
#include <QBarSet>
#include <QDockWidget>
#include <QLineSeries>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest/QtTest>

#include "test_data.h"
#include "core/engine/runtime.h"
#include "ui/analysis_session.h"
#include "ui/distribution_charts.h"
#include "ui/distribution_view.h"
#include "ui/engine_worker.h"
#include "ui/main_window.h"
#include "ui/model_tree_filter.h"
#include "ui/model_tree_model.h"
#include "ui/numeric_table_model.h"
#include "ui/qsur_table_model.h"
#include "ui/qsur_view.h"

namespace {

constexpr int kTimeout = 60000;

// Site and weight rows (kind, layer, every column): what a saved analysis must reproduce.
QStringList statsRows(const ModelTreeModel& m) {
  QStringList out;
  for (int r = 0; r < m.rowCount(); ++r) {
    const QModelIndex layer = m.index(r, 0);
    for (int c = 0; c < m.rowCount(layer); ++c) {
      const QModelIndex i = m.index(c, 0, layer);
      const auto kind = ModelTreeModel::Kind(i.data(ModelTreeModel::KindRole).toInt());
      if (kind != ModelTreeModel::Kind::Site && kind != ModelTreeModel::Kind::Weight) continue;
      QStringList cells{layer.data().toString()};
      for (int col = 0; col < m.columnCount(); ++col) cells << m.index(c, col, layer).data().toString();
      out << cells.join(QLatin1Char('|'));
    }
  }
  return out;
}

AnalysisRequest smallRequest(const std::string& text) {
  AnalysisRequest r;
  r.textPath = QString::fromStdString(text);
  r.windows = 2;
  r.seqlen = 64;
  r.compare = true;
  return r;
}

}  // namespace

class TestMainWindow : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);  // QSettings in a test location
    QCoreApplication::setOrganizationName(QStringLiteral("OSTQ-test"));
    QCoreApplication::setApplicationName(QStringLiteral("tst_main_window"));
    QSettings().clear();
    ostq::runtime_init();
  }

  void analyze_select_save_reopen() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(text, "data/tinystories_val.txt");
    MainWindow window;
    window.setInteractive(false);
    QAbstractItemModelTester treeTester(window.treeModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QAbstractItemModelTester proxyTester(window.treeFilter(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QAbstractItemModelTester qsurTester(window.qsurView()->tableModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QSignalSpy shown(&window, &MainWindow::modelShown);
    window.openModel(QString::fromStdString(model));
    QVERIFY(shown.wait(kTimeout));
    QVERIFY(window.treeModel()->rowCount() >= 7);  // embedding, 5 layers, final_norm

    QSignalSpy analysed(&window, &MainWindow::analysisShown);
    QSignalSpy layers(window.session(), &AnalysisSession::layerAvailable);
    QSignalSpy progress(window.worker(), &EngineWorker::jobProgress);
    window.analyze(smallRequest(text));
    QVERIFY(analysed.wait(kTimeout));
    QCOMPARE(layers.count(), 5);  // streamed layer by layer
    QVERIFY(progress.count() > 0);
    const auto analysis = window.session()->analysis();
    QVERIFY(analysis && !analysis->comparison.empty());

    // A site: both sides of every chart hold data (the after side once rotation is computed).
    QSignalSpy after(window.distributionView(), &DistributionView::afterShown);
    window.distributionView()->setTransform(QStringLiteral("rotate"));
    QVERIFY(window.selectTensor(2, QStringLiteral("ffn_input"), ostq::TensorKind::kActivation));
    QVERIFY(after.wait(kTimeout));
    for (DistributionCharts* side : {window.distributionView()->before(), window.distributionView()->after()}) {
      QCOMPARE(side->channelSet()->count() + 0, 64);
      QVERIFY(side->histogramSeries()->count() > 0);
      QVERIFY(side->gridSeries()->count() > 0);
      QCOMPARE(side->rowSeries()->count(), 2 * 64);  // windows × seqlen tokens
      QVERIFY(side->magnitudeModel()->rowCount() > 0);
      QAbstractItemModelTester t(side->channelModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    }
    // A weight shows too.
    QVERIFY(window.selectTensor(1, QStringLiteral("down_proj"), ostq::TensorKind::kWeight));
    window.distributionView()->refreshNow();
    QVERIFY(window.distributionView()->before()->channelSet()->count() > 0);

    // QSUR: one point per layer for every transform set.
    window.qsurView()->setSite(QStringLiteral("ffn_input"));
    QCOMPARE(window.qsurView()->series().size(), int(analysis->comparison.transforms.size()));
    for (QLineSeries* s : window.qsurView()->series()) QCOMPARE(s->count(), 5);

    // Worst 10 sites across the model.
    window.setWorstSitesFilter(true);
    int visible = 0;
    for (int r = 0; r < window.treeFilter()->rowCount(); ++r) visible += window.treeFilter()->rowCount(window.treeFilter()->index(r, 0));
    QCOMPARE(visible, 10);
    window.setWorstSitesFilter(false);

    // Save, then browse the file in a fresh window without the model.
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("a.ostq.h5"));
    QSignalSpy saved(window.session(), &AnalysisSession::saved);
    window.saveAnalysis(path);
    QVERIFY(saved.wait(kTimeout));
    QVERIFY(QFileInfo::exists(path));
    MainWindow fresh;
    fresh.setInteractive(false);
    QSignalSpy freshShown(&fresh, &MainWindow::analysisShown);
    fresh.open(path);
    QVERIFY(freshShown.wait(kTimeout));
    QCOMPARE(statsRows(*fresh.treeModel()), statsRows(*window.treeModel()));
    QVERIFY(fresh.selectTensor(2, QStringLiteral("ffn_input"), ostq::TensorKind::kActivation));
    fresh.distributionView()->refreshNow();
    QCOMPARE(fresh.distributionView()->before()->channelSet()->count(), 64);
    QCOMPARE(fresh.distributionView()->after()->channelSet()->count(), 0);  // no model: no after-view
    fresh.qsurView()->setSite(QStringLiteral("ffn_input"));
    for (QLineSeries* s : fresh.qsurView()->series()) QCOMPARE(s->count(), 5);
  }

  void cancel_analysis() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(text, "data/tinystories_val.txt");
    MainWindow window;
    window.setInteractive(false);
    QSignalSpy shown(&window, &MainWindow::modelShown);
    window.openModel(QString::fromStdString(model));
    QVERIFY(shown.wait(kTimeout));
    QSignalSpy failed(window.session(), &AnalysisSession::analysisFailed);
    const quint64 id = window.session()->analyze(smallRequest(text));
    window.worker()->cancel(id);  // a queued job fails at once, a running one at its next progress call
    QTRY_VERIFY_WITH_TIMEOUT(failed.count() > 0, kTimeout);
    QCOMPARE(failed.first().at(1).toBool(), true);
    QVERIFY(!window.session()->analysis());
  }

  void bad_files_signal_errors() {
    MainWindow window;
    window.setInteractive(false);
    QSignalSpy analysisFailed(&window, &MainWindow::analysisFailed);
    QSignalSpy errors(&window, &MainWindow::errorOccurred);
    window.openAnalysis(QStringLiteral("/nonexistent/x.ostq.h5"));
    QVERIFY(analysisFailed.wait(kTimeout));
    QVERIFY(analysisFailed.first().at(0).toString().contains(QStringLiteral("/nonexistent/x.ostq.h5")));
    QTemporaryDir dir;
    const QString junk = dir.filePath(QStringLiteral("junk.bin"));
    QFile f(junk);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(100, 'x'));
    f.close();
    QSignalSpy modelFailed(&window, &MainWindow::modelFailed);
    window.openModel(junk);
    QVERIFY(modelFailed.wait(kTimeout));
    QVERIFY(errors.count() >= 2);
    window.analyze(AnalysisRequest{});  // no model
    QVERIFY(analysisFailed.count() >= 2);
  }

  // Dropping a checkpoint from a file manager opens it; a non-file drop is refused at enter.
  void drop_opens_the_model() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    MainWindow window;
    window.setInteractive(false);
    QMimeData web;
    web.setUrls({QUrl(QStringLiteral("https://example.com/model.bin"))});
    QDragEnterEvent refused(QPoint(5, 5), Qt::CopyAction, &web, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &refused);
    QVERIFY(!refused.isAccepted());
    QMimeData file;
    file.setUrls({QUrl::fromLocalFile(QString::fromStdString(model))});
    QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &file, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QSignalSpy shown(&window, &MainWindow::modelShown);
    QDropEvent drop(QPointF(5, 5), Qt::CopyAction, &file, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &drop);
    QVERIFY(drop.isAccepted());
    QVERIFY(shown.wait(kTimeout));
    QVERIFY(window.treeModel()->rowCount() > 0);
  }

  void window_state_round_trips() {
    QSettings().clear();
    {
      MainWindow a;
      a.show();
      a.resize(1111, 777);
      QDockWidget* log = a.findChild<QDockWidget*>(QStringLiteral("logDock"));
      QVERIFY(log);
      log->hide();
      QVERIFY(QTest::qWaitForWindowExposed(&a));
      a.saveSettings();
    }
    MainWindow b;
    QVERIFY(b.restoreSettings());
    b.show();
    QVERIFY(QTest::qWaitForWindowExposed(&b));
    QCOMPARE(b.size(), QSize(1111, 777));
    QVERIFY(!b.findChild<QDockWidget*>(QStringLiteral("logDock"))->isVisible());
    QVERIFY(b.findChild<QDockWidget*>(QStringLiteral("modelDock"))->isVisible());
  }
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
