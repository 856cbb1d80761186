// SPDX-License-Identifier: Apache-2.0
#include "ui/series_model.h"

#include <QLocale>

#include <cmath>

int TrainCurveModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_points.size());
}

int TrainCurveModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : kColumnCount; }

QVariant TrainCurveModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Point& p = m_points[index.row()];
  if (role == Qt::TextAlignmentRole) return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
  if (index.column() == kStep) return p.step;
  double v = 0.0;
  switch (index.column()) {
    case kLoss: v = p.loss; break;
    case kLrRotation: v = p.lr_rotation; break;
    case kLrScale: v = p.lr_scale; break;
    case kGradNorm: v = p.grad_norm; break;
    case kTokensPerSecond: v = p.tokens_per_second; break;
    case kValidationLoss:
      if (std::isnan(p.validation_loss)) return {};  // an empty cell: charts skip it
      v = p.validation_loss;
      break;
    default: return {};
  }
  // EditRole carries the exact value (charts, CSV); DisplayRole a readable one.
  if (role == Qt::EditRole) return v;
  return index.column() == kTokensPerSecond ? QLocale().toString(v, 'f', 0) : QString::number(v, 'g', 6);
}

QVariant TrainCurveModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole) return {};
  if (orientation == Qt::Vertical) return section + 1;
  switch (section) {
    case kStep: return tr("step");
    case kLoss: return tr("loss");
    case kLrRotation: return tr("lr_rotation");
    case kLrScale: return tr("lr_scale");
    case kGradNorm: return tr("grad_norm");
    case kTokensPerSecond: return tr("tokens_per_second");
    case kValidationLoss: return tr("validation_loss");
    default: return {};
  }
}

void TrainCurveModel::append(const QVector<Point>& points) {
  QVector<Point> run;  // steps after the last row, inserted together
  auto flush = [&] {
    if (run.isEmpty()) return;
    const int first = static_cast<int>(m_points.size());
    beginInsertRows({}, first, first + static_cast<int>(run.size()) - 1);
    m_points += run;
    endInsertRows();
    run.clear();
  };
  for (const Point& p : points) {
    const int last = run.isEmpty() ? (m_points.isEmpty() ? -1 : m_points.back().step) : run.back().step;
    if (p.step > last) {
      run.push_back(p);
      continue;
    }
    // A repeated step (a resumed run replays from its checkpoint): drop the rows from it on.
    flush();
    int keep = static_cast<int>(m_points.size());
    while (keep > 0 && m_points[keep - 1].step >= p.step) --keep;
    beginRemoveRows({}, keep, static_cast<int>(m_points.size()) - 1);
    m_points.resize(keep);
    endRemoveRows();
    run.push_back(p);
  }
  flush();
}

void TrainCurveModel::clear() {
  if (m_points.isEmpty()) return;
  beginResetModel();
  m_points.clear();
  endResetModel();
}
