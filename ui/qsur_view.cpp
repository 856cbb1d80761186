// SPDX-License-Identifier: Apache-2.0
#include "ui/qsur_view.h"

#include <QChart>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>
#include <QVXYModelMapper>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <map>

#include "ui/chart_view.h"
#include "ui/numeric_table_model.h"
#include "ui/qsur_table_model.h"
#include "ui/theme.h"

QsurView::QsurView(AnalysisSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
  m_table = new QsurTableModel(this);
  m_filter = new QSortFilterProxyModel(this);
  m_filter->setSourceModel(m_table);
  m_filter->setFilterKeyColumn(QsurTableModel::kTensor);
  m_filter->setSortRole(Qt::EditRole);
  m_curves = new NumericTableModel(this);

  m_site = new QComboBox(this);
  m_site->setMinimumContentsLength(18);
  m_form = new QComboBox(this);
  m_form->addItem(tr("exact form"), int(QsurTableModel::Form::Exact));
  m_form->addItem(tr("axis form (paper)"), int(QsurTableModel::Form::Axis));
  m_form->setToolTip(tr("Exact: cube edges from each coordinate's extremes. Axis: the paper's λ_max end points."));
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Site:"), this));
  bar->addWidget(m_site);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("QSUR:"), this));
  bar->addWidget(m_form);
  bar->addStretch(1);

  m_chart = new QChart;
  theme::applyTo(m_chart);
  m_x = new QValueAxis(m_chart);
  m_x->setTitleText(tr("layer"));
  m_x->setLabelFormat(QStringLiteral("%d"));
  m_y = new QValueAxis(m_chart);
  m_y->setTitleText(tr("QSUR^(1/d)"));
  m_y->setLabelFormat(QStringLiteral("%.2f"));
  m_chart->addAxis(m_x, Qt::AlignBottom);
  m_chart->addAxis(m_y, Qt::AlignLeft);
  m_chart->legend()->setAlignment(Qt::AlignRight);
  m_view = new ExportableChartView(m_chart, m_curves, this);
  m_view->setRenderHint(QPainter::Antialiasing);
  m_view->setExportName(QStringLiteral("qsur"));

  m_tableView = new QTableView(this);
  m_tableView->setModel(m_filter);
  m_tableView->setSortingEnabled(true);
  m_tableView->sortByColumn(QsurTableModel::kLayer, Qt::AscendingOrder);
  m_tableView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_tableView->horizontalHeader()->setStretchLastSection(true);
  m_tableView->verticalHeader()->setVisible(false);
  m_tableView->setAlternatingRowColors(true);

  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(m_view);
  split->addWidget(m_tableView);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addWidget(split, 1);

  m_coalesce.setSingleShot(true);
  m_coalesce.setInterval(40);
  connect(&m_coalesce, &QTimer::timeout, this, &QsurView::redraw);
  connect(m_site, &QComboBox::currentIndexChanged, this, &QsurView::schedule);
  connect(m_form, &QComboBox::currentIndexChanged, this, [this] {
    m_table->setForm(QsurTableModel::Form(m_form->currentData().toInt()));
    schedule();
  });
  connect(m_session, &AnalysisSession::cleared, this, [this] {
    m_table->clear();
    schedule();
  });
  connect(m_session, &AnalysisSession::analysisStarted, this, [this] { m_table->beginStream(QStringLiteral("none")); });
  connect(m_session, &AnalysisSession::layerAvailable, this, [this](const AnalysisSession::LayerSnapshot& l) {
    m_table->appendLayer(*l);
    schedule();
  });
  connect(m_session, &AnalysisSession::analysisAvailable, this, [this](const AnalysisSession::Snapshot& a) {
    m_table->setAnalysis(a);
    schedule();
  });
}

void QsurView::setSite(const QString& name) {
  updateSites();
  const int i = m_site->findData(name);
  if (i >= 0) m_site->setCurrentIndex(i);
  refreshNow();
}

QString QsurView::site() const { return m_site->currentData().toString(); }

void QsurView::schedule() {
  if (!m_coalesce.isActive()) m_coalesce.start();
}

void QsurView::refreshNow() {
  m_coalesce.stop();
  redraw();
}

void QsurView::updateSites() {
  // Site names in first-seen order: activation sites, then weights.
  QStringList sites, weights;
  for (const QsurTableModel::Row& r : m_table->rows()) {
    QStringList& list = r.weight ? weights : sites;
    if (!list.contains(r.name)) list << r.name;
  }
  const QString current = m_site->currentData().toString();
  const bool first = m_site->count() <= 1;  // no choice made yet: default to ffn_input
  QSignalBlocker block(m_site);
  m_site->clear();
  m_site->addItem(tr("all activation sites"), QString());
  for (const QString& s : sites) m_site->addItem(s, s);
  for (const QString& w : weights) m_site->addItem(tr("%1 (weight)").arg(w), w);
  int i = m_site->findData(current);
  if (first && current.isEmpty() && !sites.isEmpty()) i = m_site->findData(sites.contains(QStringLiteral("ffn_input")) ? QStringLiteral("ffn_input") : sites.first());
  m_site->setCurrentIndex(std::max(0, i));
}

void QsurView::redraw() {
  updateSites();
  const QString site = this->site();
  m_filter->setFilterRegularExpression(site.isEmpty() ? QString() : QStringLiteral("^%1$").arg(QRegularExpression::escape(site)));
  // One curve per (site, transform); x = layer.
  const QStringList& transforms = m_table->transforms();
  std::map<std::pair<QString, int>, std::map<int, double>> curves;  // (site, transform) → layer → value
  std::map<int, int> layers;
  for (const QsurTableModel::Row& r : m_table->rows()) {
    if (site.isEmpty() ? r.weight : r.name != site) continue;
    layers[r.layer] = 0;
    for (int t = 0; t < transforms.size(); ++t) curves[{r.name, t}][r.layer] = m_table->value(r, t);
  }
  QStringList headers{tr("layer")};
  QVector<QVector<double>> cols(1);
  for (const auto& [layer, unused] : layers) cols[0] << layer;
  double hi = 0.0;
  for (const auto& [key, values] : curves) {
    headers << (site.isEmpty() ? key.first + QStringLiteral(" · ") : QString()) + AnalysisSession::transformLabel(transforms.at(key.second));
    QVector<double> col;
    for (const auto& [layer, unused] : layers) {
      const auto it = values.find(layer);
      const double v = it == values.end() ? std::nan("") : it->second;
      col << v;
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
    cols << col;
  }
  if (layers.empty()) cols.clear(), headers.clear();
  // Rebuild the series (old ones first: their mappers must not see the new columns), one per
  // curve column, mapped from the curve model.
  for (QLineSeries* s : m_series) {
    m_chart->removeSeries(s);
    delete s;
  }
  m_series.clear();
  m_curves->reset(headers, cols);
  for (int c = 1; c < m_curves->columnCount(); ++c) {
    auto* s = new QLineSeries(m_chart);
    s->setName(headers.at(c));
    s->setPointsVisible(true);
    auto* mapper = new QVXYModelMapper(s);
    mapper->setXColumn(0);
    mapper->setYColumn(c);
    mapper->setSeries(s);
    mapper->setModel(m_curves);
    m_chart->addSeries(s);
    s->attachAxis(m_x);
    s->attachAxis(m_y);
    s->setPen(QPen(theme::seriesColor(c - 1), 2.0));
    m_series << s;
  }
  const int nLayers = int(layers.size());
  m_x->setRange(0, std::max(1, nLayers - 1));
  m_x->setTickCount(nLayers >= 2 && nLayers <= 17 ? nLayers : 9);
  m_y->setRange(0, hi > 0 ? std::min(1.0, std::ceil(hi * 11.0) / 10.0) : 1.0);
  m_chart->setTitle(site.isEmpty() ? tr("QSUR^(1/d) across layers — all activation sites")
                                   : tr("QSUR^(1/d) across layers — %1").arg(site));
  Q_EMIT redrawn();
}

void QsurView::applyTheme() {
  theme::applyTo(m_chart);
  for (int i = 0; i < m_series.size(); ++i) m_series[i]->setPen(QPen(theme::seriesColor(i), 2.0));
}
