// SPDX-License-Identifier: Apache-2.0
// One side (before or after a transform set) of the distributions view: four charts of one
// site's or weight's statistics, each drawn from its own NumericTableModel —
//   channel absmax   bars per channel, the top-k outlier channels in a highlight colour
//   histogram        log10(1 + count) per bin, the symmetric per-tensor INT-b grid overlaid
//   row absmax       per-token absmax (activations) or per-output-row absmax (weights)
//   magnitude map    |x| of the first tokens × sampled channels (HeatMapView)
// The view gives both sides the same axis ranges (Ranges) so they compare at a glance.
#pragma once

#include <QObject>
#include <QString>

#include <memory>

class ExportableChartView;
class HeatMapView;
class NumericTableModel;
class QBarCategoryAxis;
class QBarSet;
class QChart;
class QLineSeries;
class QValueAxis;
class QWidget;

namespace ostq {
struct TensorStats;
}

class DistributionCharts : public QObject {
  Q_OBJECT
 public:
  // Data extents; the view merges both sides' and applies the union.
  struct Ranges {
    double channelMax = 0, histRange = 0, histMax = 0, rowMax = 0, rowCount = 0, magnitudeMax = 0;
    int channels = 0;
    Ranges united(const Ranges& o) const;
  };

  DistributionCharts(const QString& side, QWidget* parent);

  // Shows `stats` (null: clears and shows `placeholder`). `title` names the transform set.
  void setStats(std::shared_ptr<const ostq::TensorStats> stats, const QString& title, const QString& placeholder = {});
  void setBits(int bits);
  Ranges ranges() const;
  void applyRanges(const Ranges& r);
  void applyTheme();

  ExportableChartView* channelView() const { return m_channelView; }
  ExportableChartView* histogramView() const { return m_histView; }
  ExportableChartView* rowView() const { return m_rowView; }
  HeatMapView* magnitudeView() const { return m_heat; }
  NumericTableModel* channelModel() const { return m_channels; }
  NumericTableModel* histogramModel() const { return m_hist; }
  NumericTableModel* rowModel() const { return m_rows; }
  NumericTableModel* magnitudeModel() const { return m_magnitude; }
  // The series the charts draw (tests check that they hold points).
  QBarSet* channelSet() const { return m_channelSet; }
  QBarSet* outlierSet() const { return m_outlierSet; }
  QLineSeries* histogramSeries() const { return m_histLine; }
  QLineSeries* gridSeries() const { return m_gridLine; }
  QLineSeries* rowSeries() const { return m_rowLine; }

 private:
  void updateTitles();
  void updateGrid();
  QString m_side, m_title;
  std::shared_ptr<const ostq::TensorStats> m_stats;
  int m_bits = 4;
  double m_histTop = 1.0;
  NumericTableModel *m_channels, *m_hist, *m_grid, *m_rows, *m_magnitude;
  QChart *m_channelChart, *m_histChart, *m_rowChart;
  ExportableChartView *m_channelView, *m_histView, *m_rowView;
  HeatMapView* m_heat;
  QBarSet *m_channelSet = nullptr, *m_outlierSet = nullptr;
  QBarCategoryAxis* m_channelX = nullptr;
  QValueAxis *m_channelY = nullptr, *m_histX = nullptr, *m_histY = nullptr, *m_rowX = nullptr, *m_rowY = nullptr;
  QLineSeries *m_histLine = nullptr, *m_gridLine = nullptr, *m_rowLine = nullptr;
};
