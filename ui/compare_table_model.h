// SPDX-License-Identifier: Apache-2.0
// The method × W-A-KV table of `ostq compare` (core/quant/compare.h): the FP row first, then one
// row per (method, bits) with PPL, gap to FP, timings and, for learned methods, the loss before
// and after training. Replaced whole (one model reset) when a comparison finishes.
#pragma once

#include <QAbstractTableModel>
#include <QVector>

namespace ostq {
struct CompareResult;
}

class CompareTableModel final : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kMethod, kBits, kPpl, kGap, kQuantizeSeconds, kEvalSeconds, kLoss, kColumnCount };
  struct Row {
    QString method, bits, quantizers, notes;
    double ppl = 0.0, gap = 0.0;  // gap: ppl / fp − 1 (0 on the FP row)
    double quantizeSeconds = 0.0, evalSeconds = 0.0;
    double firstLoss = 0.0, finalLoss = 0.0;  // 0 when nothing was learned
    bool fp = false;
  };

  explicit CompareTableModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  void setResult(const ostq::CompareResult& result);
  void clear();
  const QVector<Row>& rows() const { return m_rows; }

 private:
  QVector<Row> m_rows;
};
