// SPDX-License-Identifier: Apache-2.0
#include "ui/chart_view.h"

#include <QAbstractItemModel>
#include <QBuffer>
#include <QContextMenuEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QSaveFile>
#include <QSvgGenerator>

namespace {

QString csv_field(const QString& s) {
  if (!s.contains(QLatin1Char(',')) && !s.contains(QLatin1Char('"')) && !s.contains(QLatin1Char('\n'))) return s;
  QString quoted = s;
  quoted.replace(QLatin1Char('"'), QStringLiteral("\"\""));
  return QLatin1Char('"') + quoted + QLatin1Char('"');
}

// Writes `bytes` to `path` atomically; returns an error message or "".
QString save_bytes(const QString& path, const QByteArray& bytes) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return QObject::tr("%1: %2").arg(path, file.errorString());
  if (file.write(bytes) != bytes.size() || !file.commit()) return QObject::tr("%1: %2").arg(path, file.errorString());
  return {};
}

}  // namespace

ExportableChartView::ExportableChartView(QChart* chart, QAbstractItemModel* data, QWidget* parent)
    : QChartView(chart, parent), m_data(data) {
  setRenderHint(QPainter::Antialiasing);
  setContextMenuPolicy(Qt::DefaultContextMenu);
  setMinimumSize(240, 160);
}

QString ExportableChartView::modelToCsv(const QAbstractItemModel& model) {
  QString out;
  const int columns = model.columnCount();
  QStringList header;
  for (int c = 0; c < columns; ++c) header << csv_field(model.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString());
  out += header.join(QLatin1Char(',')) + QLatin1Char('\n');
  for (int r = 0; r < model.rowCount(); ++r) {
    QStringList fields;
    for (int c = 0; c < columns; ++c) {
      const QModelIndex index = model.index(r, c);
      QVariant v = model.data(index, Qt::EditRole);
      if (!v.isValid()) v = model.data(index, Qt::DisplayRole);
      // Doubles print in their shortest exact form, so the CSV round-trips the model's numbers.
      fields << csv_field(v.toString());
    }
    out += fields.join(QLatin1Char(',')) + QLatin1Char('\n');
  }
  return out;
}

QSize ExportableChartView::renderSize() {
  // A view that is not on screen has no meaningful size yet: give it the export size (grab() and
  // render() deliver the pending resize, which lays the chart out).
  if (!isVisible() && size() != m_exportSize) resize(m_exportSize);
  return size();
}

bool ExportableChartView::exportPng(const QString& path) {
  renderSize();
  const QPixmap pixmap = grab();
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  if (pixmap.isNull() || !pixmap.save(&buffer, "PNG")) {
    m_lastError = tr("%1: could not render the chart").arg(path);
    return false;
  }
  m_lastError = save_bytes(path, bytes);
  return m_lastError.isEmpty();
}

bool ExportableChartView::exportSvg(const QString& path) {
  const QSize size = renderSize();
  grab();  // delivers a pending resize so the chart is laid out at `size` before painting
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  QSvgGenerator svg;
  svg.setOutputDevice(&buffer);
  svg.setSize(size);
  svg.setViewBox(QRect(QPoint(0, 0), size));
  svg.setTitle(chart() ? chart()->title() : m_exportName);
  svg.setDescription(tr("OSTQ Workbench chart"));
  {
    QPainter painter;
    if (!painter.begin(&svg)) {
      m_lastError = tr("%1: could not start the SVG painter").arg(path);
      return false;
    }
    render(&painter);
  }
  if (bytes.isEmpty()) {
    m_lastError = tr("%1: empty SVG").arg(path);
    return false;
  }
  m_lastError = save_bytes(path, bytes);
  return m_lastError.isEmpty();
}

bool ExportableChartView::exportCsv(const QString& path) {
  if (!m_data) {
    m_lastError = tr("%1: this chart has no data table").arg(path);
    return false;
  }
  m_lastError = save_bytes(path, modelToCsv(*m_data).toUtf8());
  return m_lastError.isEmpty();
}

void ExportableChartView::exportInteractively(const QString& filter, const QString& suffix,
                                              bool (ExportableChartView::*fn)(const QString&)) {
  const QString suggested = QDir::home().filePath(m_exportName + QLatin1Char('.') + suffix);
  QString path = QFileDialog::getSaveFileName(this, tr("Export chart"), suggested, filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  if (!(this->*fn)(path)) QMessageBox::warning(this, tr("Export failed"), m_lastError);
}

void ExportableChartView::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  menu.addAction(tr("Export as &PNG…"), this,
                 [this] { exportInteractively(tr("PNG image (*.png)"), QStringLiteral("png"), &ExportableChartView::exportPng); });
  menu.addAction(tr("Export as &SVG…"), this,
                 [this] { exportInteractively(tr("SVG image (*.svg)"), QStringLiteral("svg"), &ExportableChartView::exportSvg); });
  QAction* csv = menu.addAction(tr("Export data as &CSV…"), this, [this] {
    exportInteractively(tr("CSV table (*.csv)"), QStringLiteral("csv"), &ExportableChartView::exportCsv);
  });
  csv->setEnabled(m_data != nullptr);
  if (chart()) {
    menu.addSeparator();
    menu.addAction(tr("&Reset zoom"), this, [this] { chart()->zoomReset(); });
  }
  menu.exec(event->globalPos());
}
