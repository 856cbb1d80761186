// SPDX-License-Identifier: Apache-2.0
// Keeps chart series in step with columns of a table model and redraws at most once per interval
// (default 40 ms) however fast rows arrive — PlotJuggler's coalesced replot. Model signals only
// mark the binding dirty; a single-shot timer then replaces each series' points and fits the
// attached axes. The model stays the single source of truth (CSV export reads the same rows).
#pragma once

#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QVector>

class QAbstractItemModel;
class QXYSeries;

class SeriesBinding : public QObject {
  Q_OBJECT
 public:
  explicit SeriesBinding(QAbstractItemModel* model, QObject* parent = nullptr);

  // Draws column `yColumn` against `xColumn` (values read with Qt::EditRole; non-numbers and NaN
  // are skipped, as are values <= 0 on a log axis).
  void bind(QXYSeries* series, int xColumn, int yColumn);
  void setIntervalMs(int ms) { m_timer.setInterval(ms); }
  // Redraws now (also cancels a pending coalesced redraw).
  void refreshNow();
  // Redraws performed so far (tests check the coalescing).
  int refreshCount() const { return m_refreshes; }

 Q_SIGNALS:
  void refreshed();

 private:
  struct Binding {
    QPointer<QXYSeries> series;
    int x = 0, y = 0;
  };
  void schedule();
  void fitAxes();

  QPointer<QAbstractItemModel> m_model;
  QVector<Binding> m_bindings;
  QTimer m_timer;
  int m_refreshes = 0;
};
