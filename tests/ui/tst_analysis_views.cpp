// SPDX-License-Identifier: Apache-2.0
// The analysis item models and views on a hand-made analysis (no model, no worker needed except
// for the session's error paths): every model passes QAbstractItemModelTester (Fatal), the tree
// matches a golden dump, the worst-N filter, the QSUR table while it streams, the distribution
// charts' series and shared axes, the heat map and its exports, and the session's bad-input paths.
#include <QAbstractItemModelTester>
#include <QBarSet>
#include <QLineSeries>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <memory>

#include "core/analysis/analysis.h"
#include "ui/analysis_session.h"
#include "ui/distribution_charts.h"
#include "ui/engine_worker.h"
#include "ui/heat_map_view.h"
#include "ui/model_tree_filter.h"
#include "ui/model_tree_model.h"
#include "ui/numeric_table_model.h"
#include "ui/qsur_table_model.h"
#include "ui/qsur_view.h"

namespace {

ostq::TensorStats fakeStats(const std::string& name, ostq::TensorKind kind, int64_t channels, int64_t rows, double qsur, int seed) {
  ostq::TensorStats s;
  s.name = name;
  s.kind = kind;
  s.rows = rows;
  s.channels = channels;
  for (int64_t c = 0; c < channels; ++c) s.channel_absmax.push_back(float(1.0 + ((c * 7 + seed) % 5)));
  s.channel_absmax[size_t(seed % channels)] = 40.0f;  // one outlier channel
  for (int64_t r = 0; r < rows; ++r) s.row_absmax.push_back(float(2.0 + (r % 3)));
  s.histogram.range = 64.0;
  s.histogram.counts = {1, 0, 3, 10, 200, 900, 900, 200, 10, 3, 0, 1};
  s.pooled.absmax = 40.0;
  s.topk_channels = {seed % channels, (seed + 1) % channels};
  s.topk_values = {40.0f, s.channel_absmax[size_t((seed + 1) % channels)]};
  s.median_channel_absmax = 3.0;
  s.outlier_ratio = 40.0 / 3.0;
  s.sample_rows = 4;
  s.sample_channels = {0, 2, 4};
  for (int i = 0; i < 12; ++i) s.magnitude_sample.push_back(float(0.01 * (i + 1)));
  s.has_qsur = true;
  s.qsur.d = channels;
  s.qsur.exact_root = qsur;
  s.qsur.axis_root = qsur / 2;
  return s;
}

std::shared_ptr<const ostq::Analysis> fakeAnalysis(int layers = 3, bool comparison = true) {
  auto a = std::make_shared<ostq::Analysis>();
  a->info.model_path = "/nowhere/fake.bin";
  a->info.model_name = "fake";
  a->info.dtype = "fp32";
  a->info.transform = "none";
  a->info.n_layers = layers;
  for (int l = 0; l < layers; ++l) {
    ostq::LayerAnalysis la;
    la.layer = l;
    la.sites.push_back(fakeStats("attn_input", ostq::TensorKind::kActivation, 8, 16, 0.50 + 0.1 * l, l));
    la.sites.push_back(fakeStats("ffn_input", ostq::TensorKind::kActivation, 8, 16, 0.30 + 0.05 * l, l + 3));
    la.weights.push_back(fakeStats("q_proj", ostq::TensorKind::kWeight, 8, 8, 0.9, l));
    a->layers.push_back(la);
  }
  if (comparison) {
    a->comparison.transforms = {"none", "rotate"};
    for (const ostq::QsurRow& r : a->qsur_table())
      a->comparison.rows.push_back({r.layer, r.name, r.kind, r.d, {r.exact_root, 0.8}, {r.axis_root, 0.6}});
  }
  return a;
}

QStringList dump(const QAbstractItemModel& m, const QModelIndex& parent = {}, const QString& indent = {}) {
  QStringList out;
  for (int r = 0; r < m.rowCount(parent); ++r) {
    QStringList cells;
    for (int c = 0; c < m.columnCount(parent); ++c) cells << m.index(r, c, parent).data().toString();
    out << indent + cells.join(QLatin1Char('|'));
    out << dump(m, m.index(r, 0, parent), indent + QStringLiteral("  "));
  }
  return out;
}

int leaves(const QAbstractItemModel& m, const QModelIndex& parent = {}) {
  int n = 0;
  for (int r = 0; r < m.rowCount(parent); ++r) {
    const QModelIndex i = m.index(r, 0, parent);
    n += m.rowCount(i) == 0 ? 1 : leaves(m, i);
  }
  return n;
}

}  // namespace

class TestAnalysisViews : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void tree_model_golden_and_tester() {
    ModelTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setData(nullptr, fakeAnalysis(2));
    const QStringList expected = {
        QStringLiteral("layer 0|||64|0.3000|13.3×|#0"),
        QStringLiteral("  attn_input|[16 × 8]|fp32|128|0.5000|13.3×|#0"),
        QStringLiteral("  ffn_input|[16 × 8]|fp32|128|0.3000|13.3×|#3"),
        QStringLiteral("  q_proj|[8 × 8]|fp32|64|0.9000|13.3×|#0"),
        QStringLiteral("layer 1|||64|0.3500|13.3×|#1"),
        QStringLiteral("  attn_input|[16 × 8]|fp32|128|0.6000|13.3×|#1"),
        QStringLiteral("  ffn_input|[16 × 8]|fp32|128|0.3500|13.3×|#4"),
        QStringLiteral("  q_proj|[8 × 8]|fp32|64|0.9000|13.3×|#1"),
    };
    QCOMPARE(dump(model), expected);
    QVERIFY(model.find(1, QStringLiteral("ffn_input"), ModelTreeModel::Kind::Site).isValid());
    QVERIFY(!model.find(7, QStringLiteral("ffn_input"), ModelTreeModel::Kind::Site).isValid());
    model.clear();
    QCOMPARE(model.rowCount(), 0);
  }

  void worst_sites_filter() {
    ModelTreeModel model;
    ModelTreeFilter filter;
    filter.setSourceModel(&model);
    QAbstractItemModelTester tester(&filter, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setData(nullptr, fakeAnalysis(4));
    QCOMPARE(leaves(filter), 4 * 3);
    filter.setWorstSites(3);
    QCOMPARE(leaves(filter), 3);
    // The three lowest QSURs are the ffn_input sites of layers 0, 1, 2.
    QStringList names;
    for (int r = 0; r < filter.rowCount(); ++r) {
      const QModelIndex layer = filter.index(r, 0);
      for (int c = 0; c < filter.rowCount(layer); ++c) names << layer.data().toString() + QLatin1Char('/') + filter.index(c, 0, layer).data().toString();
    }
    names.sort();
    QCOMPARE(names, (QStringList{QStringLiteral("layer 0/ffn_input"), QStringLiteral("layer 1/ffn_input"), QStringLiteral("layer 2/ffn_input")}));
    filter.setWorstSites(0);
    filter.setFilterFixedString(QStringLiteral("q_proj"));
    QCOMPARE(leaves(filter), 4);
    filter.sort(ModelTreeModel::kQsur, Qt::AscendingOrder);
  }

  void qsur_table_streams_and_compares() {
    QsurTableModel table;
    QAbstractItemModelTester tester(&table, QAbstractItemModelTester::FailureReportingMode::Fatal);
    table.beginStream(QStringLiteral("none"));
    const auto a = fakeAnalysis(3);
    for (const ostq::LayerAnalysis& l : a->layers) table.appendLayer(l);
    QCOMPARE(table.rowCount(), 9);
    QCOMPARE(table.columnCount(), int(QsurTableModel::kFirstTransform) + 1);
    table.setAnalysis(a);
    QCOMPARE(table.columnCount(), int(QsurTableModel::kFirstTransform) + 2);
    QCOMPARE(table.headerData(QsurTableModel::kFirstTransform + 1, Qt::Horizontal).toString(), QStringLiteral("rotation"));
    QCOMPARE(table.index(0, QsurTableModel::kFirstTransform + 1).data(Qt::EditRole).toDouble(), 0.8);
    table.setForm(QsurTableModel::Form::Axis);
    QCOMPARE(table.index(0, QsurTableModel::kFirstTransform + 1).data(Qt::EditRole).toDouble(), 0.6);
    table.clear();
    QCOMPARE(table.rowCount(), 0);
  }

  void numeric_table_model() {
    NumericTableModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::Fatal);
    m.reset({QStringLiteral("x"), QStringLiteral("y")}, {{0, 1, 2}, {3, 4, 5}});
    QCOMPARE(m.rowCount(), 3);
    QCOMPARE(m.index(2, 1).data().toDouble(), 5.0);
    QCOMPARE(m.headerData(1, Qt::Horizontal).toString(), QStringLiteral("y"));
    m.clear();  // no rows, the columns stay: series mapped to them keep valid indices
    QCOMPARE(m.rowCount(), 0);
    QCOMPARE(m.columnCount(), 2);
  }

  void distribution_charts_have_data_and_shared_axes() {
    QWidget host;
    DistributionCharts before(QStringLiteral("Before"), &host), after(QStringLiteral("After"), &host);
    QAbstractItemModelTester t1(before.channelModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QAbstractItemModelTester t2(before.histogramModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QAbstractItemModelTester t3(before.rowModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    QAbstractItemModelTester t4(before.magnitudeModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    const auto a = fakeAnalysis(1);
    const ostq::TensorStats& s = a->layers[0].sites[1];
    before.setStats(std::shared_ptr<const ostq::TensorStats>(a, &s), QStringLiteral("identity"));
    QCOMPARE(before.channelSet()->count(), 8);
    QCOMPARE(before.outlierSet()->at(3), 40.0);  // the outlier channel is highlighted
    QCOMPARE(before.channelSet()->at(3), 0.0);
    QCOMPARE(before.histogramSeries()->count(), 12);
    QCOMPARE(before.rowSeries()->count(), 16);
    QCOMPARE(before.gridSeries()->count(), 3 * 15);  // INT4: levels −7 … 7
    before.setBits(8);
    QCOMPARE(before.gridSeries()->count(), 3 * 255);
    QCOMPARE(before.magnitudeModel()->rowCount(), 4);
    QCOMPARE(before.magnitudeModel()->columnCount(), 3);
    QCOMPARE(before.magnitudeView()->image().size(), QSize(3, 4));
    // Same axes: the union of both sides' extents.
    after.setStats(nullptr, QStringLiteral("rotation"), QStringLiteral("n/a"));
    const DistributionCharts::Ranges r = before.ranges().united(after.ranges());
    QCOMPARE(r.channelMax, 40.0);
    QCOMPARE(r.channels, 8);
    before.applyRanges(r);
    after.applyRanges(r);
    QCOMPARE(after.rowSeries()->count(), 0);
    before.applyTheme();
  }

  void heat_map_exports() {
    QTemporaryDir dir;
    NumericTableModel m;
    HeatMapView view(&m);
    view.resize(400, 300);
    m.reset({QStringLiteral("ch0"), QStringLiteral("ch1")}, {{0.1, 1.0}, {0.01, 2.0}});
    view.setRange(view.dataMax());
    QCOMPARE(view.dataMax(), 2.0);
    QVERIFY(view.exportPng(dir.filePath(QStringLiteral("m.png"))));
    QVERIFY(view.exportSvg(dir.filePath(QStringLiteral("m.svg"))));
    QVERIFY(view.exportCsv(dir.filePath(QStringLiteral("m.csv"))));
    QFile csv(dir.filePath(QStringLiteral("m.csv")));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    QVERIFY(csv.readAll().startsWith("ch0,ch1"));
  }

  void qsur_view_one_point_per_layer() {
    EngineWorker worker;
    AnalysisSession session(&worker);
    QsurView view(&session);
    Q_EMIT session.analysisAvailable(fakeAnalysis(5));
    view.setSite(QStringLiteral("ffn_input"));
    QCOMPARE(view.series().size(), 2);  // identity, rotation
    for (QLineSeries* s : view.series()) QCOMPARE(s->count(), 5);
    QAbstractItemModelTester tester(view.curveModel(), QAbstractItemModelTester::FailureReportingMode::Fatal);
    view.setSite(QString());  // all activation sites × transforms
    QCOMPARE(view.series().size(), 4);
    // Streaming: curves grow layer by layer (coalesced redraw).
    Q_EMIT session.analysisStarted();
    const auto a = fakeAnalysis(3, false);
    for (const ostq::LayerAnalysis& l : a->layers) Q_EMIT session.layerAvailable(std::make_shared<const ostq::LayerAnalysis>(l));
    QSignalSpy redrawn(&view, &QsurView::redrawn);
    QVERIFY(redrawn.wait(2000));
    QCOMPARE(redrawn.count(), 1);  // three layers, one redraw
    QCOMPARE(view.series().size(), 2);  // attn_input, ffn_input under identity
    QCOMPARE(view.series().first()->count(), 3);
  }

  void session_bad_input_reports_errors() {
    EngineWorker worker;
    AnalysisSession session(&worker);
    QSignalSpy failed(&session, &AnalysisSession::analysisFailed);
    session.analyze(AnalysisRequest{});  // no model
    QCOMPARE(failed.count(), 1);
    QTemporaryDir dir;
    const QString junk = dir.filePath(QStringLiteral("junk.ostq.h5"));
    QFile f(junk);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not an HDF5 file");
    f.close();
    session.open(junk);
    QVERIFY(failed.wait(10000));
    QVERIFY(failed.last().at(0).toString().contains(junk));
    QSignalSpy saveFailed(&session, &AnalysisSession::saveFailed);
    session.save(dir.filePath(QStringLiteral("x.ostq.h5")));  // nothing to save
    QCOMPARE(saveFailed.count(), 1);
    QSignalSpy transformFailed(&session, &AnalysisSession::transformFailed);
    session.requestTransform(QStringLiteral("rotate"));
    QCOMPARE(transformFailed.count(), 1);
  }
};

QTEST_MAIN(TestAnalysisViews)
#include "tst_analysis_views.moc"
