// SPDX-License-Identifier: Apache-2.0
// The exportable chart view and the chart plumbing: PNG, SVG and CSV files are written and
// non-empty, the CSV holds exactly the model's header and rows, the series binding coalesces a
// burst of appended rows into one redraw, and the training-curve model passes
// QAbstractItemModelTester (also across a resume that replays steps).
#include <QtTest/QtTest>

#include <QAbstractItemModelTester>
#include <QChart>
#include <QImage>
#include <QStandardItemModel>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QTemporaryDir>
#include <QValueAxis>

#include "ui/chart_view.h"
#include "ui/series_binding.h"
#include "ui/series_model.h"

namespace {

TrainCurveModel::Point point(int step) {
  TrainCurveModel::Point p;
  p.step = step;
  p.loss = 1.0 / step + 0.125;
  p.lr_rotation = 0.0169 * (1.0 - step / 100.0);
  p.lr_scale = 0.00179;
  p.grad_norm = 0.5 + step * 0.01;
  p.tokens_per_second = 4000 + step;
  if (step % 10 == 0) p.validation_loss = 1.0 / step + 0.25;  // measured every 10 steps: other cells empty
  return p;
}

QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class TestChartView : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void train_curve_model_passes_the_tester() {
    TrainCurveModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.append({point(1), point(2), point(3)});
    QCOMPARE(model.rowCount(), 3);
    model.append({point(4)});
    // A resume replays from step 3: rows 3 and 4 are replaced, the curve stays monotonic.
    model.append({point(3), point(4), point(5)});
    QCOMPARE(model.rowCount(), 5);
    for (int r = 0; r < 5; ++r) QCOMPARE(model.data(model.index(r, TrainCurveModel::kStep)).toInt(), r + 1);
    QCOMPARE(model.data(model.index(1, TrainCurveModel::kLoss), Qt::EditRole).toDouble(), point(2).loss);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
  }

  void exports_png_svg_and_csv() {
    TrainCurveModel model;
    for (int s = 1; s <= 20; ++s) model.append({point(s)});
    auto* chart = new QChart;
    auto* loss = new QLineSeries;
    loss->setName(QStringLiteral("loss"));
    chart->addSeries(loss);
    auto* x = new QValueAxis;
    auto* y = new QLogValueAxis;
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    loss->attachAxis(x);
    loss->attachAxis(y);
    chart->setTitle(QStringLiteral("Loss"));
    ExportableChartView view(chart, &model);
    SeriesBinding binding(&model);
    binding.bind(loss, TrainCurveModel::kStep, TrainCurveModel::kLoss);
    binding.refreshNow();
    QCOMPARE(loss->count(), 20);
    QVERIFY(x->max() >= 20 && x->min() <= 1);

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString png = dir.filePath(QStringLiteral("loss.png")), svg = dir.filePath(QStringLiteral("loss.svg")),
                  csv = dir.filePath(QStringLiteral("loss.csv"));
    QVERIFY2(view.exportPng(png), qPrintable(view.lastError()));
    QVERIFY2(view.exportSvg(svg), qPrintable(view.lastError()));
    QVERIFY2(view.exportCsv(csv), qPrintable(view.lastError()));
    const QImage image(png);
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), QSize(800, 500));
    const QByteArray svg_bytes = read_all(svg);
    QVERIFY(svg_bytes.size() > 1000);
    QVERIFY(svg_bytes.contains("<svg"));
    QVERIFY(svg_bytes.contains("<path") || svg_bytes.contains("<polyline"));

    // The CSV is the model: header, then every row's exact values.
    const QStringList lines = QString::fromUtf8(read_all(csv)).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), model.rowCount() + 1);
    QCOMPARE(lines[0], QStringLiteral("step,loss,lr_rotation,lr_scale,grad_norm,tokens_per_second,validation_loss"));
    for (int r = 0; r < model.rowCount(); ++r) {
      const QStringList fields = lines[r + 1].split(QLatin1Char(','));
      QCOMPARE(fields.size(), model.columnCount());
      for (int c = 0; c < model.columnCount(); ++c) {
        QCOMPARE(fields[c].toDouble(), model.data(model.index(r, c), Qt::EditRole).toDouble());
      }
    }
    // A chart without a table cannot export CSV, and says why.
    ExportableChartView bare(new QChart, nullptr);
    QVERIFY(!bare.exportCsv(dir.filePath(QStringLiteral("none.csv"))));
    QVERIFY(!bare.lastError().isEmpty());
    QVERIFY(!view.exportPng(QStringLiteral("/nonexistent-dir/x.png")));
  }

  void csv_quotes_fields_that_need_it() {
    QStandardItemModel model(1, 2);
    model.setHorizontalHeaderLabels({QStringLiteral("method"), QStringLiteral("note")});
    model.setItem(0, 0, new QStandardItem(QStringLiteral("quarot+gptq")));
    model.setItem(0, 1, new QStandardItem(QStringLiteral("a, \"b\"")));
    QCOMPARE(ExportableChartView::modelToCsv(model), QStringLiteral("method,note\nquarot+gptq,\"a, \"\"b\"\"\"\n"));
  }

  void binding_coalesces_a_burst_into_one_redraw() {
    TrainCurveModel model;
    auto* chart = new QChart;
    auto* series = new QLineSeries;
    chart->addSeries(series);
    chart->createDefaultAxes();
    ExportableChartView view(chart, &model);
    SeriesBinding binding(&model);
    binding.bind(series, TrainCurveModel::kStep, TrainCurveModel::kGradNorm);
    binding.refreshNow();
    const int before = binding.refreshCount();
    for (int s = 1; s <= 200; ++s) model.append({point(s)});  // 200 model signals in one go
    QTRY_COMPARE_WITH_TIMEOUT(series->count(), 200, 2000);
    QCOMPARE(binding.refreshCount() - before, 1);
  }
};

QTEST_MAIN(TestChartView)
#include "tst_chart_view.moc"
