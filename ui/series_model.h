// SPDX-License-Identifier: Apache-2.0
// The training curve of a calibration run as an append-only table (heaptrack's ChartModel):
// one row per optimiser step — step, loss, learning rates, gradient norm, tokens/s, held-out loss — fed from
// the core's TrainStep records and read by the loss / learning-rate / gradient-norm charts and
// their CSV export. Rows are never edited, only appended or cleared.
#pragma once

#include <QAbstractTableModel>
#include <QVector>

#include <limits>

class TrainCurveModel final : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kStep, kLoss, kLrRotation, kLrScale, kGradNorm, kTokensPerSecond, kValidationLoss, kColumnCount };
  struct Point {
    int step = 0;
    double loss = 0.0, lr_rotation = 0.0, lr_scale = 0.0, grad_norm = 0.0, tokens_per_second = 0.0;
    double validation_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: not measured at this step (no cell)
  };

  explicit TrainCurveModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  // Appends a batch of steps (one rowsInserted). A step not after the last one (a resumed run
  // replaying its log) replaces the rows from that step on, so the curve stays monotonic.
  void append(const QVector<Point>& points);
  void clear();
  const QVector<Point>& points() const { return m_points; }

 private:
  QVector<Point> m_points;
};
