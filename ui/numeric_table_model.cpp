// SPDX-License-Identifier: Apache-2.0
#include "ui/numeric_table_model.h"

void NumericTableModel::reset(const QStringList& headers, const QVector<QVector<double>>& columns) {
  Q_ASSERT(headers.size() == columns.size());
  beginResetModel();
  m_headers = headers;
  m_columns = columns;
  m_rows = columns.isEmpty() ? 0 : int(columns.first().size());
  for (const QVector<double>& c : m_columns) Q_ASSERT(c.size() == m_rows);
  endResetModel();
}

int NumericTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : m_rows; }

int NumericTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(m_columns.size());
}

QVariant NumericTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
  return m_columns.at(index.column()).at(index.row());
}

QVariant NumericTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole) return {};
  if (orientation == Qt::Horizontal) return section >= 0 && section < m_headers.size() ? QVariant(m_headers.at(section)) : QVariant();
  return section + 1;
}
