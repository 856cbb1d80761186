// SPDX-License-Identifier: Apache-2.0
#include "ui/heat_map_view.h"

#include <QContextMenuEvent>
#include <QFileDialog>
#include <QMenu>
#include <QPainter>
#include <QSaveFile>
#include <QSvgGenerator>

#include <algorithm>
#include <cmath>

#include "ui/chart_view.h"
#include "ui/numeric_table_model.h"

namespace {

// Perceptually ordered colour map (viridis control points), t in [0, 1].
QRgb viridis(double t) {
  static const QRgb kStops[] = {0x440154, 0x482878, 0x3e4989, 0x31688e, 0x26828e,
                                0x1f9e89, 0x35b779, 0x6ece58, 0xb5de2b, 0xfde725};
  t = std::clamp(t, 0.0, 1.0) * 9.0;
  const int i = std::min(int(t), 8);
  const double f = t - i;
  const QColor a = QColor::fromRgb(kStops[i]), b = QColor::fromRgb(kStops[i + 1]);
  return qRgb(int(a.red() + f * (b.red() - a.red())), int(a.green() + f * (b.green() - a.green())),
              int(a.blue() + f * (b.blue() - a.blue())));
}

constexpr double kDecades = 3.0;  // colour range: hi·10^-3 … hi

}  // namespace

HeatMapView::HeatMapView(NumericTableModel* data, QWidget* parent) : QWidget(parent), m_data(data) {
  setMinimumSize(240, 160);
  connect(data, &QAbstractItemModel::modelReset, this, &HeatMapView::rebuild);
}

void HeatMapView::setTitle(const QString& title) {
  m_title = title;
  update();
}

void HeatMapView::setPlaceholder(const QString& text) {
  m_placeholder = text;
  update();
}

void HeatMapView::setRange(double hi) {
  m_hi = hi > 0 ? hi : 1.0;
  rebuild();
}

double HeatMapView::dataMax() const {
  double hi = 0.0;
  if (!m_data) return hi;
  for (int c = 0; c < m_data->columnCount(); ++c)
    for (double v : m_data->column(c)) hi = std::max(hi, v);
  return hi;
}

void HeatMapView::rebuild() {
  const int rows = m_data ? m_data->rowCount() : 0, cols = m_data ? m_data->columnCount() : 0;
  m_image = QImage();
  if (rows > 0 && cols > 0) {
    m_image = QImage(cols, rows, QImage::Format_RGB32);
    const double lo = std::log10(m_hi) - kDecades;
    for (int r = 0; r < rows; ++r) {
      auto* line = reinterpret_cast<QRgb*>(m_image.scanLine(r));
      for (int c = 0; c < cols; ++c) {
        const double v = m_data->value(r, c);
        line[c] = viridis(v > 0 ? (std::log10(v) - lo) / kDecades : 0.0);
      }
    }
  }
  update();
}

void HeatMapView::paint(QPainter& p, const QRect& rect) {
  const QPalette pal = palette();
  p.fillRect(rect, pal.color(QPalette::Base));
  p.setPen(pal.color(QPalette::Text));
  QFont bold = font();
  bold.setBold(true);
  p.setFont(bold);
  const int fh = p.fontMetrics().height();
  p.drawText(rect.adjusted(0, 4, 0, 0), Qt::AlignHCenter | Qt::AlignTop, m_title);
  p.setFont(font());
  if (m_image.isNull()) {
    p.drawText(rect, Qt::AlignCenter | Qt::TextWordWrap, m_placeholder);
    return;
  }
  // Plot area: left axis label, colour bar on the right.
  const QRect plot = rect.adjusted(fh * 2 + 8, fh + 12, -(fh * 4 + 24), -(fh * 2 + 8));
  p.setRenderHint(QPainter::SmoothPixmapTransform, false);
  p.drawImage(plot, m_image);
  p.drawRect(plot.adjusted(0, 0, -1, -1));
  p.drawText(QRect(plot.left(), plot.bottom() + 4, plot.width(), fh), Qt::AlignLeft, QStringLiteral("0"));
  p.drawText(QRect(plot.left(), plot.bottom() + 4, plot.width(), fh), Qt::AlignHCenter,
             tr("channels (%1 sampled, incl. the top outliers)").arg(m_image.width()));
  p.save();
  p.translate(plot.left() - 6, plot.center().y());
  p.rotate(-90);
  p.drawText(QRect(-plot.height() / 2, -fh, plot.height(), fh), Qt::AlignHCenter, tr("tokens (%1)").arg(m_image.height()));
  p.restore();
  // Colour bar with its decades.
  const QRect bar(plot.right() + 12, plot.top(), 12, plot.height());
  for (int y = 0; y < bar.height(); ++y) {
    p.setPen(QColor::fromRgb(viridis(1.0 - double(y) / std::max(1, bar.height() - 1))));
    p.drawLine(bar.left(), bar.top() + y, bar.right(), bar.top() + y);
  }
  p.setPen(pal.color(QPalette::Text));
  for (int k = 0; k <= int(kDecades); ++k) {
    const int y = bar.top() + int(bar.height() * double(k) / kDecades);
    p.drawText(QRect(bar.right() + 4, y - fh / 2, fh * 4, fh), Qt::AlignLeft | Qt::AlignVCenter,
               QString::number(m_hi * std::pow(10.0, -k), 'g', 2));
  }
  p.drawText(QRect(bar.left() - 8, bar.bottom() + 4, fh * 4, fh), Qt::AlignLeft, QStringLiteral("|x|"));
}

void HeatMapView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  paint(p, rect());
}

void HeatMapView::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) update();
  QWidget::changeEvent(event);
}

bool HeatMapView::exportPng(const QString& path) { return grab().save(path, "PNG"); }

bool HeatMapView::exportSvg(const QString& path) {
  QSvgGenerator svg;
  svg.setFileName(path);
  svg.setSize(size());
  svg.setViewBox(rect());
  svg.setTitle(m_title);
  QPainter p;
  if (!p.begin(&svg)) return false;
  paint(p, rect());
  return p.end();
}

bool HeatMapView::exportCsv(const QString& path) {
  if (!m_data) return false;
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) return false;
  f.write(ExportableChartView::modelToCsv(*m_data).toUtf8());
  return f.commit();
}

void HeatMapView::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  const auto ask = [this](const QString& filter, const QString& suffix, bool (HeatMapView::*fn)(const QString&)) {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export"), QStringLiteral("magnitude.") + suffix, filter);
    if (!path.isEmpty()) (this->*fn)(path);
  };
  menu.addAction(tr("Export as PNG…"), this, [=] { ask(tr("PNG image (*.png)"), QStringLiteral("png"), &HeatMapView::exportPng); });
  menu.addAction(tr("Export as SVG…"), this, [=] { ask(tr("SVG image (*.svg)"), QStringLiteral("svg"), &HeatMapView::exportSvg); });
  menu.addAction(tr("Export data as CSV…"), this, [=] { ask(tr("CSV (*.csv)"), QStringLiteral("csv"), &HeatMapView::exportCsv); });
  menu.exec(event->globalPos());
}
