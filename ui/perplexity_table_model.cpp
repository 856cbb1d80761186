// SPDX-License-Identifier: Apache-2.0
#include "ui/perplexity_table_model.h"

#include <QLocale>

#include <cmath>

int PerplexityTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }
int PerplexityTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : kColumnCount; }

double PerplexityTableModel::fpPpl() const {
  for (const Row& r : m_rows)
    if (r.fp) return r.ppl;
  return 0.0;
}

QVariant PerplexityTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Row& r = m_rows[index.row()];
  const double fp = fpPpl();
  const bool hasGap = !r.fp && fp > 0.0;
  if (role == Qt::TextAlignmentRole) {
    const bool numeric = index.column() >= kPpl && index.column() <= kTokensPerSecond;
    return QVariant::fromValue(numeric ? Qt::AlignRight | Qt::AlignVCenter : Qt::AlignLeft | Qt::AlignVCenter);
  }
  if (role == Qt::ToolTipRole) {
    if (index.column() == kModel) return r.path;
    if (index.column() == kMethod) return r.quantizers;
    return {};
  }
  if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
  const bool edit = role == Qt::EditRole;
  switch (index.column()) {
    case kModel: return r.name;
    case kMethod: return r.fp ? tr("FP (fp32)") : r.method;
    case kPpl: return edit ? QVariant(r.ppl) : QVariant(QString::number(r.ppl, 'f', 4));
    case kGap:
      if (!hasGap) return edit ? QVariant(0.0) : QVariant(QStringLiteral("—"));
      return edit ? QVariant(r.ppl / fp - 1.0) : QVariant(QString::asprintf("%+.1f%%", 100.0 * (r.ppl / fp - 1.0)));
    case kWindows:
      return edit ? QVariant(r.windows) : QVariant(QStringLiteral("%1 × %2").arg(r.windows).arg(r.seqlen));
    case kPredicted: return edit ? QVariant(r.predicted) : QVariant(QLocale().toString(r.predicted));
    case kTokensPerSecond: return edit ? QVariant(r.tokensPerSecond) : QVariant(QLocale().toString(r.tokensPerSecond, 'f', 0));
    case kExecution: return r.fp ? QStringLiteral("fp32") : r.execution;
    default: return {};
  }
}

QVariant PerplexityTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole) return {};
  if (orientation == Qt::Vertical) return section + 1;
  switch (section) {
    case kModel: return tr("Model");
    case kMethod: return tr("Method");
    case kPpl: return tr("PPL");
    case kGap: return tr("Gap to FP");
    case kWindows: return tr("Windows");
    case kPredicted: return tr("Predicted tokens");
    case kTokensPerSecond: return tr("Tokens/s");
    case kExecution: return tr("Execution");
    default: return {};
  }
}

void PerplexityTableModel::setRow(const Row& row) {
  const double oldFp = fpPpl();
  for (int i = 0; i < m_rows.size(); ++i) {
    if (m_rows[i].path != row.path) continue;
    m_rows[i] = row;
    Q_EMIT dataChanged(index(i, 0), index(i, kColumnCount - 1));
    if (fpPpl() != oldFp && !m_rows.isEmpty()) Q_EMIT dataChanged(index(0, kGap), index(int(m_rows.size()) - 1, kGap));
    return;
  }
  // The FP reference goes first, so the gaps read against the row above them.
  const int at = row.fp ? 0 : int(m_rows.size());
  beginInsertRows({}, at, at);
  m_rows.insert(at, row);
  endInsertRows();
  if (fpPpl() != oldFp && m_rows.size() > 1) Q_EMIT dataChanged(index(0, kGap), index(int(m_rows.size()) - 1, kGap));
}

void PerplexityTableModel::clear() {
  if (m_rows.isEmpty()) return;
  beginResetModel();
  m_rows.clear();
  endResetModel();
}
