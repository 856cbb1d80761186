// SPDX-License-Identifier: Apache-2.0
#include "ui/distribution_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSpinBox>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/analysis/analysis.h"
#include "ui/analysis_session.h"
#include "ui/chart_view.h"
#include "ui/distribution_charts.h"
#include "ui/heat_map_view.h"

namespace {

QWidget* pair(QWidget* left, QWidget* right) {
  auto* page = new QWidget;
  auto* row = new QHBoxLayout(page);
  row->setContentsMargins(2, 2, 2, 2);
  row->addWidget(left, 1);
  row->addWidget(right, 1);
  return page;
}

}  // namespace

DistributionView::DistributionView(AnalysisSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
  m_header = new QLabel(tr("Select an activation site or a weight in the model tree (run Analyze first)."), this);
  m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_transform = new QComboBox(this);
  m_transform->setToolTip(tr("Transform set for the right-hand side (merged exactly into the weights before the capture)"));
  m_bits = new QSpinBox(this);
  m_bits->setRange(2, 8);
  m_bits->setValue(4);
  m_bits->setPrefix(QStringLiteral("INT"));
  m_bits->setToolTip(tr("Bits of the symmetric per-tensor grid drawn over the histograms"));

  auto* bar = new QHBoxLayout;
  bar->addWidget(m_header, 1);
  bar->addWidget(new QLabel(tr("After:"), this));
  bar->addWidget(m_transform);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("Grid:"), this));
  bar->addWidget(m_bits);

  m_before = new DistributionCharts(tr("Before"), this);
  m_after = new DistributionCharts(tr("After"), this);
  m_pages = new QTabWidget(this);
  m_pages->setDocumentMode(true);
  m_pages->addTab(pair(m_before->channelView(), m_after->channelView()), tr("Channel absmax"));
  m_pages->addTab(pair(m_before->histogramView(), m_after->histogramView()), tr("Histogram"));
  m_pages->addTab(pair(m_before->rowView(), m_after->rowView()), tr("Token absmax"));
  m_pages->addTab(pair(m_before->magnitudeView(), m_after->magnitudeView()), tr("Magnitude map"));

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addWidget(m_pages, 1);

  updateTransformList();
  setTransform(QStringLiteral("rotate"));
  m_coalesce.setSingleShot(true);
  m_coalesce.setInterval(40);
  connect(&m_coalesce, &QTimer::timeout, this, &DistributionView::refresh);
  connect(m_transform, &QComboBox::currentIndexChanged, this, [this] { showAfter(); });
  connect(m_bits, &QSpinBox::valueChanged, this, [this](int b) {
    m_before->setBits(b);
    m_after->setBits(b);
  });
  connect(m_session, &AnalysisSession::cleared, this, [this] {
    m_name.clear();
    m_before->setStats(nullptr, {});
    m_after->setStats(nullptr, {});
    updateTransformList();
  });
  connect(m_session, &AnalysisSession::analysisAvailable, this, [this] {
    updateTransformList();
    if (hasSelection()) m_coalesce.start();
  });
  connect(m_session, &AnalysisSession::transformAvailable, this, [this](const QString& name) {
    if (name == transform() && hasSelection()) showAfter();
  });
  connect(m_session, &AnalysisSession::transformFailed, this, [this](const QString& name, const QString& message) {
    if (name == transform()) m_after->setStats(nullptr, AnalysisSession::transformLabel(name), message);
  });
}

void DistributionView::updateTransformList() {
  const QString current = m_transform->currentData().toString();
  QSignalBlocker block(m_transform);
  m_transform->clear();
  for (const QString& n : m_session->transformNames()) m_transform->addItem(AnalysisSession::transformLabel(n), n);
  const int i = m_transform->findData(current.isEmpty() ? QStringLiteral("rotate") : current);
  m_transform->setCurrentIndex(i >= 0 ? i : 0);
}

void DistributionView::setTransform(const QString& name) {
  const int i = m_transform->findData(name);
  if (i >= 0) m_transform->setCurrentIndex(i);
}

QString DistributionView::transform() const { return m_transform->currentData().toString(); }

void DistributionView::setBits(int bits) { m_bits->setValue(bits); }

void DistributionView::showTensor(int layer, const QString& name, ostq::TensorKind kind) {
  m_layer = layer;
  m_name = name;
  m_kind = kind;
  if (!m_coalesce.isActive()) m_coalesce.start();
}

void DistributionView::refreshNow() {
  if (m_coalesce.isActive()) {
    m_coalesce.stop();
    refresh();
  }
}

void DistributionView::refresh() {
  const AnalysisSession::StatsRef s = m_session->stats(m_layer, m_name, m_kind);
  const AnalysisSession::Snapshot a = m_session->analysis();
  const QString base = a ? AnalysisSession::transformLabel(QString::fromStdString(a->info.transform)) : QString();
  if (!s) {
    m_header->setText(tr("layer %1 · %2: no statistics (run Analyze)").arg(m_layer).arg(m_name));
    m_before->setStats(nullptr, base, tr("No statistics for this tensor."));
    m_after->setStats(nullptr, {});
    return;
  }
  QString text = tr("<b>layer %1 · %2</b> — %3, %4 channels × %5 %6; absmax %7, kurtosis %8")
                     .arg(m_layer)
                     .arg(m_name, QString::fromLatin1(ostq::tensor_kind_name(s->kind)))
                     .arg(s->channels)
                     .arg(s->rows)
                     .arg(s->kind == ostq::TensorKind::kWeight ? tr("rows") : tr("tokens"))
                     .arg(s->pooled.absmax, 0, 'g', 3)
                     .arg(s->pooled.kurtosis, 0, 'f', 1);
  if (s->has_qsur) text += tr(", QSUR<sup>1/d</sup> %1").arg(s->qsur.exact_root, 0, 'f', 4);
  m_header->setText(text);
  m_before->setStats(s, base);
  syncRanges();
  Q_EMIT beforeShown();
  showAfter();
}

void DistributionView::showAfter() {
  if (!hasSelection()) return;
  const QString t = transform();
  const QString label = AnalysisSession::transformLabel(t);
  if (m_session->transformed(t)) {
    m_after->setStats(m_session->stats(m_layer, m_name, m_kind, t), label, tr("No statistics for this tensor."));
    syncRanges();
    Q_EMIT afterShown();
    return;
  }
  m_after->setStats(nullptr, label, tr("Computing the analysis after %1…").arg(label));
  syncRanges();
  m_session->requestTransform(t);  // answers with transformAvailable or transformFailed
}

void DistributionView::syncRanges() {
  const DistributionCharts::Ranges r = m_before->ranges().united(m_after->ranges());
  m_before->applyRanges(r);
  m_after->applyRanges(r);
}

void DistributionView::applyTheme() {
  m_before->applyTheme();
  m_after->applyTheme();
}
