// SPDX-License-Identifier: Apache-2.0
#include "ui/series_binding.h"

#include <QAbstractAxis>
#include <QAbstractItemModel>
#include <QHash>
#include <QLogValueAxis>
#include <QValueAxis>
#include <QXYSeries>

#include <cmath>
#include <limits>

SeriesBinding::SeriesBinding(QAbstractItemModel* model, QObject* parent) : QObject(parent), m_model(model) {
  m_timer.setSingleShot(true);
  m_timer.setInterval(40);
  connect(&m_timer, &QTimer::timeout, this, &SeriesBinding::refreshNow);
  connect(model, &QAbstractItemModel::rowsInserted, this, &SeriesBinding::schedule);
  connect(model, &QAbstractItemModel::rowsRemoved, this, &SeriesBinding::schedule);
  connect(model, &QAbstractItemModel::modelReset, this, &SeriesBinding::schedule);
  connect(model, &QAbstractItemModel::dataChanged, this, &SeriesBinding::schedule);
  connect(model, &QAbstractItemModel::layoutChanged, this, &SeriesBinding::schedule);
}

void SeriesBinding::bind(QXYSeries* series, int xColumn, int yColumn) {
  m_bindings.push_back(Binding{series, xColumn, yColumn});
  schedule();
}

void SeriesBinding::schedule() {
  // Already pending: this change rides along with it (that is the throttle).
  if (!m_timer.isActive()) m_timer.start();
}

namespace {

bool on_log_axis(QXYSeries* series, Qt::Orientation o) {
  for (QAbstractAxis* a : series->attachedAxes()) {
    if (a->orientation() == o && a->type() == QAbstractAxis::AxisTypeLogValue) return true;
  }
  return false;
}

}  // namespace

void SeriesBinding::refreshNow() {
  m_timer.stop();
  if (!m_model) return;
  const int rows = m_model->rowCount();
  for (const Binding& b : m_bindings) {
    if (!b.series) continue;
    const bool log_x = on_log_axis(b.series, Qt::Horizontal), log_y = on_log_axis(b.series, Qt::Vertical);
    QList<QPointF> points;
    points.reserve(rows);
    for (int r = 0; r < rows; ++r) {
      bool ok_x = false, ok_y = false;
      const double x = m_model->data(m_model->index(r, b.x), Qt::EditRole).toDouble(&ok_x);
      const double y = m_model->data(m_model->index(r, b.y), Qt::EditRole).toDouble(&ok_y);
      if (!ok_x || !ok_y || !std::isfinite(x) || !std::isfinite(y)) continue;
      if ((log_x && x <= 0) || (log_y && y <= 0)) continue;
      points.append(QPointF(x, y));
    }
    b.series->replace(points);
  }
  fitAxes();
  ++m_refreshes;
  Q_EMIT refreshed();
}

void SeriesBinding::fitAxes() {
  struct Range {
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  };
  QHash<QAbstractAxis*, Range> ranges;
  for (const Binding& b : m_bindings) {
    if (!b.series || !b.series->isVisible()) continue;
    for (QAbstractAxis* axis : b.series->attachedAxes()) {
      Range& r = ranges[axis];
      for (const QPointF& p : b.series->points()) {
        const double v = axis->orientation() == Qt::Horizontal ? p.x() : p.y();
        r.lo = std::min(r.lo, v);
        r.hi = std::max(r.hi, v);
      }
    }
  }
  for (auto it = ranges.begin(); it != ranges.end(); ++it) {
    Range r = it.value();
    if (!(r.lo <= r.hi)) continue;  // no points yet: keep the axis as it is
    if (auto* log = qobject_cast<QLogValueAxis*>(it.key())) {
      log->setRange(r.lo / 1.2, r.hi * 1.2);
    } else if (auto* value = qobject_cast<QValueAxis*>(it.key())) {
      // A little headroom so the line does not sit on the frame; a flat line gets a visible band.
      const double pad = r.hi > r.lo ? 0.04 * (r.hi - r.lo) : std::max(std::abs(r.hi) * 0.05, 1e-9);
      value->setRange(r.lo - (value->orientation() == Qt::Horizontal ? 0.0 : pad), r.hi + pad);
    }
  }
}
