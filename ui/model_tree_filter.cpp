// SPDX-License-Identifier: Apache-2.0
#include "ui/model_tree_filter.h"

#include "ui/model_tree_model.h"

ModelTreeFilter::ModelTreeFilter(QObject* parent) : QSortFilterProxyModel(parent) {
  setRecursiveFilteringEnabled(true);  // a matching site keeps its layer row
  setFilterCaseSensitivity(Qt::CaseInsensitive);
  setFilterKeyColumn(ModelTreeModel::kName);
  setSortRole(ModelTreeModel::SortRole);
  // The worst-N set depends on the whole source: recompute it whenever the source changes.
  connect(this, &QAbstractProxyModel::sourceModelChanged, this, [this] {
    if (auto* src = sourceModel()) connect(src, &QAbstractItemModel::modelReset, this, [this] { recompute(); });
    recompute();
  });
}

void ModelTreeFilter::setWorstSites(int n) {
  m_worst = n;
  recompute();
}

void ModelTreeFilter::recompute() {
  const auto* src = qobject_cast<const ModelTreeModel*>(sourceModel());
  m_worstIds = src && m_worst > 0 ? src->worstSites(m_worst) : QSet<quintptr>();
  invalidateFilter();
}

bool ModelTreeFilter::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
  if (m_worst > 0) {
    const QModelIndex idx = sourceModel()->index(sourceRow, 0, sourceParent);
    if (!m_worstIds.contains(idx.internalId())) return false;
  }
  return QSortFilterProxyModel::filterAcceptsRow(sourceRow, sourceParent);
}
