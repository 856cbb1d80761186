// SPDX-License-Identifier: Apache-2.0
// Distributions of the selected site or weight, before and after a chosen transform set side by
// side with the same axes: per-channel absmax, histogram with the INT-b grid, per-token absmax and
// the token × channel magnitude map, one sub-tab each. The "after" statistics come from the
// session (computed on the worker on first request, then cached). Selection changes are
// coalesced: at most one redraw per 40 ms however fast the tree selection moves.
#pragma once

#include <QString>
#include <QTimer>
#include <QWidget>

#include "core/analysis/capture.h"

class AnalysisSession;
class DistributionCharts;
class QComboBox;
class QLabel;
class QSpinBox;
class QTabWidget;

class DistributionView : public QWidget {
  Q_OBJECT
 public:
  DistributionView(AnalysisSession* session, QWidget* parent = nullptr);

  void showTensor(int layer, const QString& name, ostq::TensorKind kind);
  void setTransform(const QString& name);  // "rotate", "smooth", … (AnalysisSession names)
  QString transform() const;
  void setBits(int bits);
  void refreshNow();  // applies a pending selection at once
  void applyTheme();

  DistributionCharts* before() const { return m_before; }
  DistributionCharts* after() const { return m_after; }
  QTabWidget* pages() const { return m_pages; }
  bool hasSelection() const { return !m_name.isEmpty(); }

 Q_SIGNALS:
  void beforeShown();  // the before side holds the selected tensor
  void afterShown();   // the after side holds it under the chosen transform set

 private:
  void refresh();
  void showAfter();
  void syncRanges();
  void updateTransformList();
  AnalysisSession* m_session;
  DistributionCharts *m_before, *m_after;
  QTabWidget* m_pages;
  QLabel* m_header;
  QComboBox* m_transform;
  QSpinBox* m_bits;
  QTimer m_coalesce;
  int m_layer = -1;
  QString m_name;
  ostq::TensorKind m_kind = ostq::TensorKind::kActivation;
};
