// SPDX-License-Identifier: Apache-2.0
// A chart view whose picture and data can be saved: PNG (the rendered widget), SVG (vector, via
// QSvgGenerator) and CSV (header + rows of the item model the chart is drawn from, so the numbers
// behind a picture are never lost). Right-click offers the three exports. Every chart in the
// workbench is one of these.
#pragma once

#include <QChartView>
#include <QPointer>
#include <QSize>
#include <QString>

class QAbstractItemModel;

class ExportableChartView : public QChartView {
  Q_OBJECT
 public:
  // `data` is the table the chart shows (not owned; may be null: CSV export then fails).
  ExportableChartView(QChart* chart, QAbstractItemModel* data, QWidget* parent = nullptr);

  QAbstractItemModel* dataModel() const { return m_data; }
  void setDataModel(QAbstractItemModel* data) { m_data = data; }
  // Size used for PNG/SVG when the view is not on screen (offscreen tests, scripted exports).
  void setExportSize(const QSize& size) { m_exportSize = size; }
  // Base name suggested by the save dialogs ("loss_curve").
  void setExportName(const QString& name) { m_exportName = name; }

  // Each writes `path` atomically (QSaveFile) and returns false with lastError() set on failure.
  bool exportPng(const QString& path);
  bool exportSvg(const QString& path);
  bool exportCsv(const QString& path);
  QString lastError() const { return m_lastError; }

  // The model as CSV text: a header from the horizontal header data, then one line per row
  // (raw values: Qt::EditRole when set, else Qt::DisplayRole; fields quoted when needed).
  static QString modelToCsv(const QAbstractItemModel& model);

 protected:
  void contextMenuEvent(QContextMenuEvent* event) override;

 private:
  QSize renderSize();
  void exportInteractively(const QString& filter, const QString& suffix, bool (ExportableChartView::*fn)(const QString&));

  QPointer<QAbstractItemModel> m_data;
  QSize m_exportSize{800, 500};
  QString m_exportName = QStringLiteral("chart");
  QString m_lastError;
};
