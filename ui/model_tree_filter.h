// SPDX-License-Identifier: Apache-2.0
// Sorting and filtering of the model tree: a name filter (case-insensitive, parents of matches
// stay visible) and the quick filter "worst N activation sites by QSUR" across all layers.
#pragma once

#include <QSet>
#include <QSortFilterProxyModel>

class ModelTreeFilter final : public QSortFilterProxyModel {
  Q_OBJECT
 public:
  explicit ModelTreeFilter(QObject* parent = nullptr);
  // 0 turns the quick filter off.
  void setWorstSites(int n);
  int worstSites() const { return m_worst; }

 protected:
  bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

 private:
  void recompute();
  int m_worst = 0;
  QSet<quintptr> m_worstIds;
};
