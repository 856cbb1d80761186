// SPDX-License-Identifier: Apache-2.0
#include "ui/evaluation_view.h"

#include <QGroupBox>
#include <QScrollArea>
#include <QSplitter>
#include <QVBoxLayout>

#include "ui/compare_panel.h"
#include "ui/generation_panel.h"
#include "ui/perplexity_panel.h"

namespace {

QGroupBox* box(const QString& title, QWidget* content, QWidget* parent) {
  auto* g = new QGroupBox(title, parent);
  auto* l = new QVBoxLayout(g);
  l->addWidget(content);
  return g;
}

}  // namespace

EvaluationView::EvaluationView(EngineWorker* worker, QWidget* parent) : QWidget(parent) {
  m_perplexity = new PerplexityPanel(worker, this);
  m_compare = new ComparePanel(worker, this);
  m_generation = new GenerationPanel(worker, this);
  auto* tables = new QSplitter(Qt::Horizontal, this);
  tables->addWidget(box(tr("Perplexity: FP vs quantized bundles"), m_perplexity, tables));
  tables->addWidget(box(tr("Method comparison (ostq compare)"), m_compare, tables));
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(tables);
  split->addWidget(box(tr("Generation: FP | quantized (greedy)"), m_generation, split));
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  // Scrolls rather than widening the main window: three panels side by side need room.
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(split);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(scroll);
  // A bundle added to the perplexity list is offered for generation too.
  connect(m_perplexity, &PerplexityPanel::bundleAdded, m_generation, &GenerationPanel::addBundle);
}

void EvaluationView::setModel(std::shared_ptr<ostq::Model> model, const QString& path) {
  m_perplexity->setModel(model, path);
  m_compare->setModel(model, path);
  m_generation->setModel(std::move(model), path);
}

void EvaluationView::addBundle(const QString& dir) { m_perplexity->addBundle(dir); }

void EvaluationView::setData(const QString& textFile) {
  m_perplexity->setData(textFile);
  m_compare->setData(textFile);
}
