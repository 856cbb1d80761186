// SPDX-License-Identifier: Apache-2.0
// A small read-only table of numbers, column-major, that one chart draws from (heaptrack's
// ChartModel): a QVXYModelMapper / QVBarModelMapper or the heat map reads it, and its CSV export
// gives the numbers behind the picture. Replaced whole (one model reset) by its owner.
#pragma once

#include <QAbstractTableModel>
#include <QStringList>
#include <QVector>

class NumericTableModel final : public QAbstractTableModel {
  Q_OBJECT
 public:
  explicit NumericTableModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  // `columns[c]` holds column c; all columns have the same length. headers.size() == columns.size().
  void reset(const QStringList& headers, const QVector<QVector<double>>& columns);
  // No rows; the columns stay (mapped series keep valid column indices).
  void clear() { reset(m_headers, QVector<QVector<double>>(m_columns.size())); }
  double value(int row, int column) const { return m_columns.at(column).at(row); }
  const QVector<double>& column(int c) const { return m_columns.at(c); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  QStringList m_headers;
  QVector<QVector<double>> m_columns;
  int m_rows = 0;
};
