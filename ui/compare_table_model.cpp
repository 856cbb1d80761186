// SPDX-License-Identifier: Apache-2.0
#include "ui/compare_table_model.h"

#include <QStringList>

#include "core/quant/compare.h"

int CompareTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }
int CompareTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : kColumnCount; }

QVariant CompareTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Row& r = m_rows[index.row()];
  if (role == Qt::TextAlignmentRole) {
    return QVariant::fromValue(index.column() >= kPpl ? Qt::AlignRight | Qt::AlignVCenter : Qt::AlignLeft | Qt::AlignVCenter);
  }
  if (role == Qt::ToolTipRole) {
    if (index.column() == kMethod || index.column() == kBits) return r.quantizers;
    return r.notes.isEmpty() ? QVariant() : QVariant(r.notes);
  }
  if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
  const bool edit = role == Qt::EditRole;
  const bool learned = r.firstLoss != 0.0 || r.finalLoss != 0.0;
  switch (index.column()) {
    case kMethod: return r.method;
    case kBits: return r.bits;
    case kPpl: return edit ? QVariant(r.ppl) : QVariant(QString::number(r.ppl, 'f', 4));
    case kGap: return edit ? QVariant(r.gap) : QVariant(r.fp ? QStringLiteral("—") : QString::asprintf("%+.1f%%", 100.0 * r.gap));
    case kQuantizeSeconds: return edit ? QVariant(r.quantizeSeconds) : QVariant(QString::number(r.quantizeSeconds, 'f', 1));
    case kEvalSeconds: return edit ? QVariant(r.evalSeconds) : QVariant(QString::number(r.evalSeconds, 'f', 1));
    case kLoss:
      if (edit) return r.finalLoss;
      return learned ? QStringLiteral("%1 → %2").arg(r.firstLoss, 0, 'g', 5).arg(r.finalLoss, 0, 'g', 5) : QString();
    default: return {};
  }
}

QVariant CompareTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole) return {};
  if (orientation == Qt::Vertical) return section + 1;
  switch (section) {
    case kMethod: return tr("Method");
    case kBits: return tr("W-A-KV");
    case kPpl: return tr("PPL");
    case kGap: return tr("Gap to FP");
    case kQuantizeSeconds: return tr("Quantize s");
    case kEvalSeconds: return tr("Eval s");
    case kLoss: return tr("Loss first → final");
    default: return {};
  }
}

void CompareTableModel::setResult(const ostq::CompareResult& result) {
  beginResetModel();
  m_rows.clear();
  Row fp;
  fp.method = tr("FP (fp32)");
  fp.bits = QStringLiteral("16-16-16");
  fp.ppl = result.fp_ppl;
  fp.fp = true;
  m_rows.push_back(fp);
  for (const ostq::CompareRow& c : result.rows) {
    Row r;
    r.method = QString::fromStdString(c.method);
    r.bits = QString::fromStdString(c.bits);
    r.quantizers = QString::fromStdString(c.quantizers);
    QStringList notes;
    for (const std::string& n : c.notes) notes << QString::fromStdString(n);
    if (!c.learning.empty()) notes << QString::fromStdString(c.learning);
    r.notes = notes.join(QLatin1Char('\n'));
    r.ppl = c.ppl;
    r.gap = c.gap;
    r.quantizeSeconds = c.quantize_seconds;
    r.evalSeconds = c.eval_seconds;
    r.firstLoss = c.first_loss;
    r.finalLoss = c.final_loss;
    m_rows.push_back(r);
  }
  endResetModel();
}

void CompareTableModel::clear() {
  if (m_rows.isEmpty()) return;
  beginResetModel();
  m_rows.clear();
  endResetModel();
}
