// SPDX-License-Identifier: Apache-2.0
// Perplexity of the full-precision model and of each quantized bundle on one text, one row per
// model, with the gap to the FP row (the first row marked fp). Rows are added as evaluations
// finish; evaluating a model again replaces its row. EditRole gives raw numbers (CSV, sorting),
// DisplayRole formatted text.
#pragma once

#include <QAbstractTableModel>
#include <QVector>

class PerplexityTableModel final : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kModel, kMethod, kPpl, kGap, kWindows, kPredicted, kTokensPerSecond, kExecution, kColumnCount };
  struct Row {
    QString name, path;          // display name, the model or bundle path (the row's key)
    bool fp = false;             // the full-precision reference
    QString method, quantizers;  // "" for FP
    QString execution;           // fake-quant / low-bit kernels (quantized rows)
    double ppl = 0.0;
    qint64 windows = 0, seqlen = 0, predicted = 0;
    double tokensPerSecond = 0.0;
  };

  explicit PerplexityTableModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  // Adds the row, or replaces the row with the same path.
  void setRow(const Row& row);
  void clear();
  const QVector<Row>& rows() const { return m_rows; }
  // The FP row's perplexity, 0 when there is none yet.
  double fpPpl() const;

 private:
  QVector<Row> m_rows;
};
