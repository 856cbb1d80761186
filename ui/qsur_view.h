// SPDX-License-Identifier: Apache-2.0
// QSUR across layers: a line chart with one curve per site × transform set (identity, smoothing,
// rotation, rotation+smoothing, learned when given) for the chosen site, and the numeric table
// below (QsurTableModel behind a filter). Curves grow layer by layer while an analysis runs;
// redraws are coalesced to one per 40 ms.
#pragma once

#include <QTimer>
#include <QWidget>

#include <memory>

#include "ui/analysis_session.h"

class ExportableChartView;
class NumericTableModel;
class QChart;
class QComboBox;
class QLineSeries;
class QSortFilterProxyModel;
class QTableView;
class QValueAxis;
class QsurTableModel;

class QsurView : public QWidget {
  Q_OBJECT
 public:
  explicit QsurView(AnalysisSession* session, QWidget* parent = nullptr);

  // "" = every activation site; else a site or weight name ("ffn_input", "q_proj").
  void setSite(const QString& name);
  QString site() const;
  void refreshNow();
  void applyTheme();

  QsurTableModel* tableModel() const { return m_table; }
  NumericTableModel* curveModel() const { return m_curves; }
  QList<QLineSeries*> series() const { return m_series; }
  ExportableChartView* chartView() const { return m_view; }

 Q_SIGNALS:
  void redrawn();

 private:
  void schedule();
  void redraw();
  void updateSites();
  AnalysisSession* m_session;
  QsurTableModel* m_table;
  QSortFilterProxyModel* m_filter;
  NumericTableModel* m_curves;
  QChart* m_chart;
  ExportableChartView* m_view;
  QValueAxis *m_x, *m_y;
  QList<QLineSeries*> m_series;
  QComboBox *m_site, *m_form;
  QTableView* m_tableView;
  QTimer m_coalesce;
};
