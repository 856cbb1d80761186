// SPDX-License-Identifier: Apache-2.0
#include "ui/distribution_charts.h"

#include <QBarSet>
#include <QChart>
#include <QLineSeries>
#include <QPen>
#include <QStackedBarSeries>
#include <QVXYModelMapper>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

#include "core/analysis/capture.h"
#include "ui/chart_view.h"
#include "ui/heat_map_view.h"
#include "ui/numeric_table_model.h"
#include "ui/theme.h"

namespace {

QChart* makeChart() {
  auto* chart = new QChart;
  theme::applyTo(chart);
  chart->legend()->setVisible(false);
  return chart;
}

QValueAxis* addAxis(QChart* chart, Qt::Alignment side, const QString& title) {
  auto* axis = new QValueAxis(chart);
  axis->setTitleText(title);
  axis->setLabelFormat(QStringLiteral("%.3g"));
  chart->addAxis(axis, side);
  return axis;
}

QLineSeries* mappedLine(QChart* chart, NumericTableModel* model, int x, int y, QValueAxis* ax, QValueAxis* ay) {
  auto* series = new QLineSeries(chart);
  auto* mapper = new QVXYModelMapper(series);
  mapper->setXColumn(x);
  mapper->setYColumn(y);
  mapper->setSeries(series);
  mapper->setModel(model);
  chart->addSeries(series);
  series->attachAxis(ax);
  series->attachAxis(ay);
  return series;
}

// A "nice" upper bound so both sides' axes end on a round number.
double niceMax(double v) {
  if (!(v > 0)) return 1.0;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0})
    if (v <= m * p * 1.0001) return m * p;
  return 10 * p;
}

}  // namespace

DistributionCharts::Ranges DistributionCharts::Ranges::united(const Ranges& o) const {
  Ranges r;
  r.channelMax = std::max(channelMax, o.channelMax);
  r.histRange = std::max(histRange, o.histRange);
  r.histMax = std::max(histMax, o.histMax);
  r.rowMax = std::max(rowMax, o.rowMax);
  r.rowCount = std::max(rowCount, o.rowCount);
  r.magnitudeMax = std::max(magnitudeMax, o.magnitudeMax);
  r.channels = std::max(channels, o.channels);
  return r;
}

DistributionCharts::DistributionCharts(const QString& side, QWidget* parent) : QObject(parent), m_side(side) {
  m_channels = new NumericTableModel(this);
  m_hist = new NumericTableModel(this);
  m_grid = new NumericTableModel(this);
  m_rows = new NumericTableModel(this);
  m_magnitude = new NumericTableModel(this);

  // Channel absmax: two stacked sets so the top-k channels get their own colour.
  m_channelChart = makeChart();
  auto* bars = new QStackedBarSeries(m_channelChart);
  bars->setBarWidth(1.0);
  m_channelSet = new QBarSet(tr("channel absmax"));
  m_outlierSet = new QBarSet(tr("top-k outlier channels"));
  bars->append(m_channelSet);
  bars->append(m_outlierSet);
  m_channelChart->addSeries(bars);
  m_channelY = addAxis(m_channelChart, Qt::AlignLeft, tr("max |x|"));
  auto* channelX = addAxis(m_channelChart, Qt::AlignBottom, tr("channel"));
  channelX->setLabelFormat(QStringLiteral("%d"));
  bars->attachAxis(channelX);
  bars->attachAxis(m_channelY);
  m_channelChart->legend()->setVisible(true);
  m_channelChart->legend()->setAlignment(Qt::AlignTop);
  connect(m_channels, &QAbstractItemModel::modelReset, this, [this, channelX] {
    // The bar sets mirror the model's columns 1 and 2 (one bar per channel).
    m_channelSet->remove(0, m_channelSet->count());
    m_outlierSet->remove(0, m_outlierSet->count());
    if (m_channels->columnCount() == 3) {
      m_channelSet->append(QList<qreal>(m_channels->column(1).begin(), m_channels->column(1).end()));
      m_outlierSet->append(QList<qreal>(m_channels->column(2).begin(), m_channels->column(2).end()));
    }
    channelX->setRange(-0.5, std::max(1, m_channels->rowCount()) - 0.5);
  });
  m_channelView = new ExportableChartView(m_channelChart, m_channels, parent);

  // Histogram (log counts) with the quantization grid as thin vertical lines.
  m_histChart = makeChart();
  m_histX = addAxis(m_histChart, Qt::AlignBottom, tr("value"));
  m_histY = addAxis(m_histChart, Qt::AlignLeft, tr("log₁₀(1 + count)"));
  m_histLine = mappedLine(m_histChart, m_hist, 0, 2, m_histX, m_histY);
  m_gridLine = mappedLine(m_histChart, m_grid, 0, 1, m_histX, m_histY);
  m_histView = new ExportableChartView(m_histChart, m_hist, parent);

  m_rowChart = makeChart();
  m_rowX = addAxis(m_rowChart, Qt::AlignBottom, tr("token"));
  m_rowX->setLabelFormat(QStringLiteral("%d"));
  m_rowY = addAxis(m_rowChart, Qt::AlignLeft, tr("max |x|"));
  m_rowLine = mappedLine(m_rowChart, m_rows, 0, 1, m_rowX, m_rowY);
  m_rowView = new ExportableChartView(m_rowChart, m_rows, parent);

  m_heat = new HeatMapView(m_magnitude, parent);
  for (ExportableChartView* v : {m_channelView, m_histView, m_rowView}) v->setRenderHint(QPainter::Antialiasing);
  m_channelView->setExportName(QStringLiteral("channel_absmax_") + side);
  m_histView->setExportName(QStringLiteral("histogram_") + side);
  m_rowView->setExportName(QStringLiteral("row_absmax_") + side);
  applyTheme();
  updateTitles();
}

void DistributionCharts::setStats(std::shared_ptr<const ostq::TensorStats> stats, const QString& title,
                                  const QString& placeholder) {
  m_stats = std::move(stats);
  m_title = title;
  m_heat->setPlaceholder(placeholder);
  const ostq::TensorStats* s = m_stats.get();
  if (!s) {
    for (NumericTableModel* m : {m_channels, m_hist, m_grid, m_rows, m_magnitude}) m->clear();
    updateTitles();
    return;
  }
  // Channel absmax, split into ordinary and top-k channels.
  const int c = int(s->channel_absmax.size());
  QVector<double> idx(c), plain(c), top(c, 0.0);
  for (int j = 0; j < c; ++j) {
    idx[j] = j;
    plain[j] = s->channel_absmax[size_t(j)];
  }
  for (int64_t t : s->topk_channels) {
    if (t < 0 || t >= c) continue;
    top[int(t)] = plain[int(t)];
    plain[int(t)] = 0.0;
  }
  m_channels->reset({tr("channel"), tr("absmax"), tr("top-k absmax")}, {idx, plain, top});

  const std::vector<double> edges = s->histogram.edges();
  const int bins = int(s->histogram.counts.size());
  QVector<double> centre(bins), count(bins), logc(bins), lo(bins), hi(bins);
  for (int b = 0; b < bins; ++b) {
    lo[b] = edges[size_t(b)];
    hi[b] = edges[size_t(b) + 1];
    centre[b] = 0.5 * (lo[b] + hi[b]);
    count[b] = double(s->histogram.counts[size_t(b)]);
    logc[b] = std::log10(1.0 + count[b]);
  }
  m_histTop = logc.isEmpty() ? 1.0 : *std::max_element(logc.begin(), logc.end());
  m_hist->reset({tr("bin centre"), tr("count"), tr("log10(1+count)"), tr("bin low"), tr("bin high")},
                {centre, count, logc, lo, hi});
  updateGrid();

  const int r = int(s->row_absmax.size());
  QVector<double> rowIdx(r), rowMax(r);
  for (int i = 0; i < r; ++i) {
    rowIdx[i] = i;
    rowMax[i] = s->row_absmax[size_t(i)];
  }
  const bool weight = s->kind == ostq::TensorKind::kWeight;
  m_rows->reset({weight ? tr("output row") : tr("token"), tr("absmax")}, {rowIdx, rowMax});
  m_rowX->setTitleText(weight ? tr("output row") : tr("token (window × position)"));

  const int sc = int(s->sample_channels.size()), sr = int(s->sample_rows);
  QStringList headers;
  QVector<QVector<double>> cols(sc, QVector<double>(sr));
  for (int j = 0; j < sc; ++j) {
    headers << QStringLiteral("ch%1").arg(s->sample_channels[size_t(j)]);
    for (int i = 0; i < sr; ++i) cols[j][i] = s->magnitude_sample[size_t(i) * size_t(sc) + size_t(j)];
  }
  if (sr > 0 && sc > 0) m_magnitude->reset(headers, cols);
  else m_magnitude->clear();
  updateTitles();
}

void DistributionCharts::setBits(int bits) {
  m_bits = bits;
  updateGrid();
  updateTitles();
}

void DistributionCharts::updateGrid() {
  // Symmetric per-tensor absmax grid: q·Δ, |q| ≤ 2^(b−1) − 1, Δ = absmax / (2^(b−1) − 1); drawn as
  // one zig-zag line (x,0) → (x,top) → (x,0) per level so a single series carries the whole grid.
  const ostq::TensorStats* s = m_stats.get();
  if (!s || !(s->pooled.absmax > 0)) {
    m_grid->clear();
    return;
  }
  const int qmax = (1 << (m_bits - 1)) - 1;
  const double step = s->pooled.absmax / qmax;
  QVector<double> x, y;
  for (int q = -qmax; q <= qmax; ++q) {
    x << q * step << q * step << q * step;
    y << 0.0 << m_histTop << 0.0;
  }
  m_grid->reset({tr("grid level"), tr("marker")}, {x, y});
}

void DistributionCharts::updateTitles() {
  const QString what = m_title.isEmpty() ? m_side : m_side + QStringLiteral(" · ") + m_title;
  const bool weight = m_stats && m_stats->kind == ostq::TensorKind::kWeight;
  m_channelChart->setTitle(tr("%1 — per-channel absmax").arg(what));
  m_histChart->setTitle(tr("%1 — histogram, INT%2 grid").arg(what).arg(m_bits));
  m_rowChart->setTitle(weight ? tr("%1 — per-output-row absmax").arg(what) : tr("%1 — per-token absmax").arg(what));
  m_heat->setTitle(tr("%1 — |x| tokens × channels").arg(what));
}

DistributionCharts::Ranges DistributionCharts::ranges() const {
  Ranges r;
  const ostq::TensorStats* s = m_stats.get();
  if (!s) return r;
  for (float v : s->channel_absmax) r.channelMax = std::max(r.channelMax, double(v));
  r.channels = int(s->channel_absmax.size());
  r.histRange = s->histogram.range;
  r.histMax = m_histTop;
  for (float v : s->row_absmax) r.rowMax = std::max(r.rowMax, double(v));
  r.rowCount = double(s->row_absmax.size());
  r.magnitudeMax = m_heat->dataMax();
  return r;
}

void DistributionCharts::applyRanges(const Ranges& r) {
  m_channelY->setRange(0, niceMax(r.channelMax));
  const double h = niceMax(r.histRange);
  m_histX->setRange(-h, h);
  m_histY->setRange(0, niceMax(r.histMax));
  m_rowX->setRange(0, std::max(1.0, r.rowCount - 1));
  m_rowY->setRange(0, niceMax(r.rowMax));
  m_heat->setRange(r.magnitudeMax);
}

void DistributionCharts::applyTheme() {
  for (QChart* c : {m_channelChart, m_histChart, m_rowChart}) {
    const bool legend = c->legend()->isVisible();
    theme::applyTo(c);
    c->legend()->setVisible(legend);
  }
  m_channelSet->setColor(theme::seriesColor(0));
  m_channelSet->setBorderColor(Qt::transparent);
  m_outlierSet->setColor(theme::outlierColor());
  m_outlierSet->setBorderColor(theme::outlierColor());
  QPen hist(theme::seriesColor(0), 2.0);
  m_histLine->setPen(hist);
  QPen grid(theme::gridColor(), 1.0);
  m_gridLine->setPen(grid);
  m_rowLine->setPen(QPen(theme::seriesColor(0), 1.2));
  m_heat->update();
}
