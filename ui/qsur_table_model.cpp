// SPDX-License-Identifier: Apache-2.0
#include "ui/qsur_table_model.h"

#include <cmath>

#include "core/analysis/analysis.h"
#include "ui/analysis_session.h"

void QsurTableModel::setAnalysis(const std::shared_ptr<const ostq::Analysis>& analysis) {
  beginResetModel();
  m_rows.clear();
  m_transforms.clear();
  if (analysis && !analysis->comparison.empty()) {
    const ostq::QsurComparison& c = analysis->comparison;
    for (const std::string& t : c.transforms) m_transforms << QString::fromStdString(t);
    for (const ostq::QsurComparison::Row& r : c.rows) {
      Row row{int(r.layer), QString::fromStdString(r.name), r.kind == ostq::TensorKind::kWeight, r.d, {}, {}, false};
      row.exact = QVector<double>(r.exact_root.begin(), r.exact_root.end());
      row.axis = QVector<double>(r.axis_root.begin(), r.axis_root.end());
      m_rows << row;
    }
  } else if (analysis) {
    m_transforms << QString::fromStdString(analysis->info.transform);
    for (const ostq::QsurRow& r : analysis->qsur_table()) {
      m_rows << Row{int(r.layer), QString::fromStdString(r.name), r.kind == ostq::TensorKind::kWeight, r.d,
                    {r.exact_root}, {r.axis_root}, r.rank_deficient};
    }
  }
  endResetModel();
}

void QsurTableModel::beginStream(const QString& transform) {
  beginResetModel();
  m_rows.clear();
  m_transforms = QStringList{transform};
  endResetModel();
}

void QsurTableModel::appendLayer(const ostq::LayerAnalysis& layer) {
  if (m_transforms.size() != 1) return;  // only while streaming a single analysis
  QVector<Row> add;
  for (const auto* group : {&layer.sites, &layer.weights}) {
    for (const ostq::TensorStats& s : *group) {
      if (!s.has_qsur) continue;
      add << Row{int(layer.layer), QString::fromStdString(s.name), s.kind == ostq::TensorKind::kWeight, s.channels,
                 {s.qsur.exact_root}, {s.qsur.axis_root}, s.qsur.rank_deficient};
    }
  }
  if (add.isEmpty()) return;
  beginInsertRows({}, int(m_rows.size()), int(m_rows.size() + add.size()) - 1);
  m_rows << add;
  endInsertRows();
}

void QsurTableModel::clear() { setAnalysis(nullptr); }

void QsurTableModel::setForm(Form form) {
  if (form == m_form) return;
  m_form = form;
  if (!m_rows.isEmpty())
    Q_EMIT dataChanged(index(0, kFirstTransform), index(rowCount() - 1, columnCount() - 1));
  Q_EMIT headerDataChanged(Qt::Horizontal, kFirstTransform, columnCount() - 1);
}

double QsurTableModel::value(const Row& row, int transform) const {
  const QVector<double>& v = m_form == Form::Exact ? row.exact : row.axis;
  return transform < v.size() ? v.at(transform) : std::nan("");
}

int QsurTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

int QsurTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kFirstTransform + int(m_transforms.size());
}

QVariant QsurTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Row& r = m_rows.at(index.row());
  const int c = index.column();
  if (role == Qt::TextAlignmentRole) return c == kTensor || c == kKind ? QVariant() : QVariant(int(Qt::AlignRight | Qt::AlignVCenter));
  if (role == Qt::ToolTipRole && c == kFirstTransform && r.rankDeficient)
    return tr("Rank-deficient covariance: eigenvalues floored");
  if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
  switch (c) {
    case kLayer: return r.layer;
    case kTensor: return r.name;
    case kKind: return r.weight ? tr("weight") : tr("activation");
    case kDim: return r.d;
    default: {
      const double v = value(r, c - kFirstTransform);
      if (role == Qt::EditRole) return v;  // raw number: sorting and CSV
      if (!std::isfinite(v)) return QString();
      return QString::number(v, 'f', 4) + (c == kFirstTransform && r.rankDeficient ? QStringLiteral("*") : QString());
    }
  }
}

QVariant QsurTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kLayer: return tr("Layer");
    case kTensor: return tr("Tensor");
    case kKind: return tr("Kind");
    case kDim: return tr("d");
    default:
      if (section - kFirstTransform < m_transforms.size())
        return AnalysisSession::transformLabel(m_transforms.at(section - kFirstTransform));
      return {};
  }
}
