// SPDX-License-Identifier: Apache-2.0
#include "ui/perplexity_panel.h"
#include "ui/form_widgets.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>

#include "core/eval/perplexity.h"
#include "core/model/model.h"
#include "ui/engine_worker.h"
#include "ui/perplexity_table_model.h"
#include "core/engine/runnable_model.h"

PerplexityPanel::PerplexityPanel(EngineWorker* worker, QWidget* parent) : QWidget(parent), m_worker(worker) {
  m_data = new QLineEdit(this);
  m_data->setPlaceholderText(tr("UTF-8 text to evaluate on (held out from calibration)"));
  m_data->setToolTip(tr("`ostq eval --data`: the file is tokenized once with one BOS in front and cut into "
                        "non-overlapping windows; PPL = exp(mean NLL over positions 1…seqlen−1)."));
  auto* browse = new QPushButton(tr("Browse…"), this);
  m_windows = new QSpinBox(this);
  m_windows->setRange(0, 1000000);
  m_windows->setValue(40);
  m_windows->setSpecialValueText(tr("all"));
  m_windows->setToolTip(tr("--max-windows: evaluate at most this many windows (all = the whole file)."));
  m_seqlen = new QSpinBox(this);
  m_seqlen->setRange(0, 1 << 20);
  m_seqlen->setSpecialValueText(tr("default"));
  m_seqlen->setToolTip(tr("--seqlen: tokens per window; default min(2048, model context)."));
  m_bundles = new QListWidget(this);
  m_bundles->setMaximumHeight(80);
  m_bundles->setToolTip(tr("Quantized bundles (written by quantize / calibrate, or hf-dense exports) to compare "
                           "with the FP model."));
  auto* add = new QPushButton(tr("Add bundle…"), this);
  auto* remove = new QPushButton(tr("Remove"), this);
  m_run = new QPushButton(tr("Evaluate"), this);
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_progress = new QProgressBar(this);
  m_progress->setRange(0, 1000);
  m_status = new QLabel(this);
  m_status->setWordWrap(true);
  m_table = new PerplexityTableModel(this);
  m_view = new QTableView(this);
  m_view->setModel(m_table);
  m_view->horizontalHeader()->setStretchLastSection(true);
  m_view->verticalHeader()->hide();
  m_view->setWordWrap(false);
  // Rows arrive one by one (no model reset), which a ResizeToContents header does not notice.
  connect(m_table, &QAbstractItemModel::rowsInserted, m_view, &QTableView::resizeColumnsToContents);
  connect(m_table, &QAbstractItemModel::dataChanged, m_view, &QTableView::resizeColumnsToContents);

  auto* dataRow = new QHBoxLayout;
  dataRow->addWidget(m_data, 1);
  dataRow->addWidget(browse);
  auto* windowRow = new QHBoxLayout;
  windowRow->addWidget(m_windows);
  windowRow->addWidget(new QLabel(tr("seqlen"), this));
  windowRow->addWidget(m_seqlen);
  auto* bundleButtons = new QVBoxLayout;
  bundleButtons->addWidget(add);
  bundleButtons->addWidget(remove);
  bundleButtons->addStretch(1);
  auto* bundleRow = new QHBoxLayout;
  bundleRow->addWidget(m_bundles, 1);
  bundleRow->addLayout(bundleButtons);
  auto* form = new QFormLayout;
  form->addRow(tr("Text"), dataRow);
  form->addRow(tr("Windows"), windowRow);
  form->addRow(tr("Bundles"), bundleRow);
  layoutJobPanel(this, form, m_run, m_cancel, m_progress, m_status, m_view);

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Evaluation text"), m_data->text());
    if (!f.isEmpty()) setData(f);
  });
  connect(add, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("Quantized bundle"));
    if (!d.isEmpty()) addBundle(d);
  });
  connect(remove, &QPushButton::clicked, this, [this] { delete m_bundles->currentItem(); });
  connect(m_data, &QLineEdit::textChanged, this, &PerplexityPanel::updateButtons);
  connect(m_run, &QPushButton::clicked, this, &PerplexityPanel::run);
  connect(m_cancel, &QPushButton::clicked, this, &PerplexityPanel::cancel);
  connect(worker, &EngineWorker::jobProgress, this, [this](quint64 id, double f, const QString& stage, const QString& detail) {
    if (!m_jobs.contains(id)) return;
    m_progress->setValue(static_cast<int>(1000 * std::clamp(f, 0.0, 1.0)));
    m_progress->setFormat(stage + QStringLiteral(" %p% ") + detail.left(50));
  });
  connect(worker, &EngineWorker::jobFinished, this, [this](quint64 id) { jobEnded(id, {}, false); });
  connect(worker, &EngineWorker::jobFailed, this,
          [this](quint64 id, const QString& message, bool cancelled) { jobEnded(id, message, cancelled); });
  updateButtons();
}

void PerplexityPanel::setModel(std::shared_ptr<ostq::Model> model, const QString& path) {
  m_model = std::move(model);
  m_modelPath = path;
  m_table->clear();  // the rows compared another model
  updateButtons();
}

void PerplexityPanel::addBundle(const QString& dir) {
  if (dir.isEmpty() || !m_bundles->findItems(dir, Qt::MatchExactly).isEmpty()) return;
  m_bundles->addItem(dir);
  updateButtons();
  Q_EMIT bundleAdded(dir);
}

QStringList PerplexityPanel::bundles() const {
  QStringList out;
  for (int i = 0; i < m_bundles->count(); ++i) out << m_bundles->item(i)->text();
  return out;
}

void PerplexityPanel::setData(const QString& textFile) { m_data->setText(textFile); }

void PerplexityPanel::setWindows(int maxWindows, int seqlen) {
  m_windows->setValue(maxWindows);
  m_seqlen->setValue(seqlen);
}

void PerplexityPanel::run() {
  if (running() || !m_model || m_data->text().isEmpty()) return;
  m_errors.clear();
  m_cancelled = false;
  m_status->setText(tr("Evaluating %n model(s)…", nullptr, int(1 + m_bundles->count())));
  submitOne(m_modelPath, true);
  for (const QString& b : bundles()) submitOne(b, false);
  updateButtons();
}

void PerplexityPanel::submitOne(const QString& path, bool fp) {
  ostq::PerplexityOptions o;
  o.max_windows = m_windows->value();
  o.seqlen = m_seqlen->value();
  const std::string data = m_data->text().toStdString();
  std::shared_ptr<ostq::Model> model = fp ? m_model : nullptr;
  QPointer<PerplexityPanel> self(this);
  EngineWorker::Work work = [self, model, o, data, path, fp](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
    ostq::RunnableModel r;
    std::string execution;  // as `ostq eval --kernels auto` runs it
    if (fp) {
      r.model = model;
    } else {
      r = ostq::runnable_model_load(path.toStdString());
      execution = ostq::runnable_use_kernels(r, true);
    }
    std::unique_ptr<ostq::Tokenizer> tokenizer = ostq::tokenizer_for_model(*r.model);
    ostq::PerplexityOptions po = o;
    po.hooks = r.hooks.get();
    po.progress = progress;
    ostq::Result<ostq::PerplexityResult> p = ostq::perplexity_evaluate_file(*r.model, *tokenizer, data, po);
    ostq::throw_if_error(p.status());
    PerplexityTableModel::Row row;
    row.path = path;
    row.name = QFileInfo(path).fileName();
    row.fp = fp;
    if (r.quantized) {
      row.method = QString::fromStdString(r.quantized->method);
      row.quantizers = QString::fromStdString(r.quantized->config.describe());
      row.execution = QString::fromStdString(execution);
    }
    row.ppl = p->ppl;
    row.windows = p->windows;
    row.seqlen = p->seqlen;
    row.predicted = p->predicted;
    row.tokensPerSecond = p->tokens_per_s;
    return [self, row] {
      if (self) self->m_table->setRow(row);
    };
  };
  m_jobs << m_worker->submit(fp ? tr("Perplexity (FP)") : tr("Perplexity of %1").arg(QFileInfo(path).fileName()),
                             QString(), this, std::move(work));
}

void PerplexityPanel::cancel() {
  m_cancelled = true;
  // Queued jobs first, so none starts once the running one stops.
  const QList<quint64> jobs = m_jobs;
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) m_worker->cancel(*it);
}

void PerplexityPanel::jobEnded(quint64 id, const QString& error, bool cancelled) {
  if (!m_jobs.removeOne(id)) return;
  if (cancelled) m_cancelled = true;
  else if (!error.isEmpty()) m_errors << error;
  if (!m_jobs.isEmpty()) return;
  const bool ok = m_errors.isEmpty() && !m_cancelled;
  const QString message = m_cancelled ? tr("Cancelled") : ok ? tr("%n row(s) evaluated", nullptr, int(m_table->rowCount()))
                                                             : m_errors.join(QLatin1Char('\n'));
  m_status->setText(message);
  if (ok) m_progress->setValue(1000);
  updateButtons();
  Q_EMIT evaluationFinished(ok, message, m_cancelled);
}

void PerplexityPanel::updateButtons() {
  m_run->setEnabled(!running() && m_model && !m_data->text().isEmpty());
  m_run->setToolTip(!m_model ? tr("Open a model first") : m_data->text().isEmpty() ? tr("Choose a text file") : QString());
  m_cancel->setEnabled(running());
}
