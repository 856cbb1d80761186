// SPDX-License-Identifier: Apache-2.0
#include "ui/compare_panel.h"
#include "ui/form_widgets.h"

#include <QFileDialog>
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

#include "core/model/model.h"
#include "core/quant/compare.h"
#include "ui/compare_table_model.h"
#include "ui/engine_worker.h"
#include "core/engine/runnable_model.h"

namespace {

const char* const kMethods[] = {"rtn", "smoothquant", "gptq", "quarot", "quarot+gptq", "spinquant", "ostquant"};
const char* const kBits[] = {"4-16-16", "4-4-16", "4-4-4", "4-8-8", "8-8-8"};

QListWidget* checkList(QWidget* parent, const QStringList& items, const QStringList& checked, const QString& tip) {
  auto* list = new QListWidget(parent);
  for (const QString& s : items) {
    auto* item = new QListWidgetItem(s, list);
    item->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled);
    item->setCheckState(checked.contains(s) ? Qt::Checked : Qt::Unchecked);
  }
  list->setToolTip(tip);
  list->setMaximumHeight(90);
  return list;
}

QStringList checkedItems(const QListWidget* list) {
  QStringList out;
  for (int i = 0; i < list->count(); ++i)
    if (list->item(i)->checkState() == Qt::Checked) out << list->item(i)->text();
  return out;
}

void setChecked(QListWidget* list, const QStringList& on) {
  for (int i = 0; i < list->count(); ++i) list->item(i)->setCheckState(on.contains(list->item(i)->text()) ? Qt::Checked : Qt::Unchecked);
}

}  // namespace

ComparePanel::ComparePanel(EngineWorker* worker, QWidget* parent) : QWidget(parent), m_worker(worker) {
  QStringList methods, bits;
  for (const char* m : kMethods) methods << QLatin1String(m);
  for (const char* b : kBits) bits << QLatin1String(b);
  m_data = new QLineEdit(this);
  m_data->setPlaceholderText(tr("text: the first 20% calibrates, the rest evaluates"));
  m_data->setToolTip(tr("`ostq compare --data`: calibration never overlaps evaluation."));
  auto* browse = new QPushButton(tr("Browse…"), this);
  m_methods = checkList(this, methods, {QStringLiteral("rtn"), QStringLiteral("gptq"), QStringLiteral("quarot")},
                        tr("--methods: X+gptq = GPTQ instead of RTN for the weights; spinquant / ostquant learn "
                           "their transforms first (slow)."));
  m_bits = checkList(this, bits, {QStringLiteral("4-16-16"), QStringLiteral("4-4-16")},
                     tr("--bits: W-A-KV configurations (16 = not quantized)."));
  m_calibWindows = makeSpinBox(this, 1, 100000, 128, tr("--calib-windows: calibration windows (SmoothQuant, GPTQ, learning)."));
  m_evalWindows = makeSpinBox(this, 0, 1000000, 40, tr("--max-windows: evaluation windows (all = the rest of the text)."));
  m_evalWindows->setSpecialValueText(tr("all"));
  m_seqlen = makeSpinBox(this, 0, 1 << 20, 0, tr("--seqlen: tokens per window; default min(2048, model context)."));
  m_seqlen->setSpecialValueText(tr("default"));
  m_steps = makeSpinBox(this, 1, 100000, 100, tr("--steps of the learned methods (spinquant, ostquant)."));
  m_run = new QPushButton(tr("Compare"), this);
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_progress = new QProgressBar(this);
  m_progress->setRange(0, 1000);
  m_status = new QLabel(this);
  m_status->setWordWrap(true);
  m_table = new CompareTableModel(this);
  m_view = new QTableView(this);
  m_view->setModel(m_table);
  m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_view->horizontalHeader()->setStretchLastSection(true);
  m_view->verticalHeader()->hide();

  auto* dataRow = new QHBoxLayout;
  dataRow->addWidget(m_data, 1);
  dataRow->addWidget(browse);
  auto* lists = new QHBoxLayout;
  lists->addWidget(m_methods);
  lists->addWidget(m_bits);
  auto* windows = new QHBoxLayout;
  windows->addWidget(m_calibWindows);
  windows->addWidget(m_evalWindows);
  windows->addWidget(m_seqlen);
  auto* form = new QFormLayout;
  form->addRow(tr("Text"), dataRow);
  form->addRow(tr("Methods × bits"), lists);
  form->addRow(tr("Calib / eval windows, seqlen"), windows);
  form->addRow(tr("Learned steps"), m_steps);
  layoutJobPanel(this, form, m_run, m_cancel, m_progress, m_status, m_view);

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Comparison text"), m_data->text());
    if (!f.isEmpty()) setData(f);
  });
  connect(m_data, &QLineEdit::textChanged, this, &ComparePanel::updateButtons);
  connect(m_methods, &QListWidget::itemChanged, this, &ComparePanel::updateButtons);
  connect(m_bits, &QListWidget::itemChanged, this, &ComparePanel::updateButtons);
  connect(m_run, &QPushButton::clicked, this, &ComparePanel::run);
  connect(m_cancel, &QPushButton::clicked, this, &ComparePanel::cancel);
  connect(worker, &EngineWorker::jobProgress, this, [this](quint64 id, double f, const QString& stage, const QString& detail) {
    if (id != m_job) return;
    m_progress->setValue(static_cast<int>(1000 * std::clamp(f, 0.0, 1.0)));
    m_progress->setFormat(stage + QStringLiteral(" %p% ") + detail.left(50));
  });
  connect(worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    if (id == m_job) finish(false, message, cancelled);
  });
  updateButtons();
}

void ComparePanel::setModel(std::shared_ptr<ostq::Model> model, const QString&) {
  m_model = std::move(model);
  m_table->clear();
  updateButtons();
}

void ComparePanel::setData(const QString& textFile) { m_data->setText(textFile); }
void ComparePanel::setMethods(const QStringList& methods) { setChecked(m_methods, methods); }
void ComparePanel::setBits(const QStringList& bits) { setChecked(m_bits, bits); }
void ComparePanel::setWindows(int calibWindows, int maxEvalWindows, int seqlen) {
  m_calibWindows->setValue(calibWindows);
  m_evalWindows->setValue(maxEvalWindows);
  m_seqlen->setValue(seqlen);
}
void ComparePanel::setLearnSteps(int steps) { m_steps->setValue(steps); }
QStringList ComparePanel::methods() const { return checkedItems(m_methods); }
QStringList ComparePanel::bits() const { return checkedItems(m_bits); }

void ComparePanel::run() {
  if (running() || !m_model || m_data->text().isEmpty() || methods().isEmpty() || bits().isEmpty()) return;
  // The options run_compare (app/cmd_compare.cpp) builds, at its defaults for what the panel omits.
  ostq::CompareOptions o;
  for (const QString& m : methods()) {
    ostq::Result<ostq::MethodSpec> spec = ostq::method_spec_parse(m.toStdString());
    if (!spec.is_ok()) return finish(false, QString::fromStdString(spec.status().message()), false);
    o.methods.push_back(spec.value());
  }
  for (const QString& b : bits()) o.bits.push_back(b.toStdString());
  o.data_path = m_data->text().toStdString();
  o.seqlen = m_seqlen->value();
  o.calib_windows = m_calibWindows->value();
  o.max_eval_windows = m_evalWindows->value();
  o.learn.steps = m_steps->value();
  QPointer<ComparePanel> self(this);
  std::shared_ptr<ostq::Model> model = m_model;
  m_status->setText(tr("Comparing %1 × %2…").arg(methods().join(QStringLiteral(", ")), bits().join(QStringLiteral(", "))));
  m_job = m_worker->submit(tr("Compare methods"), QString(), this,
                           [self, model, o](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
                             std::unique_ptr<ostq::Tokenizer> tokenizer = ostq::tokenizer_for_model(*model);
                             ostq::CompareOptions co = o;
                             co.progress = progress;
                             auto r = std::make_shared<ostq::Result<ostq::CompareResult>>(
                                 ostq::compare_methods(*model, *tokenizer, co));
                             ostq::throw_if_error(r->status());
                             return [self, r] {
                               if (!self) return;
                               self->m_table->setResult(r->value());
                               self->finish(true, tr("FP %1; %n configuration(s)", nullptr, int(r->value().rows.size()))
                                                      .arg(r->value().fp_ppl, 0, 'f', 4), false);
                             };
                           });
  updateButtons();
}

void ComparePanel::cancel() {
  if (m_job != 0) m_worker->cancel(m_job);
}

void ComparePanel::finish(bool ok, const QString& message, bool cancelled) {
  m_job = 0;
  m_status->setText(cancelled ? tr("Cancelled") : message);
  if (ok) m_progress->setValue(1000);
  updateButtons();
  Q_EMIT compareFinished(ok, message, cancelled);
}

void ComparePanel::updateButtons() {
  m_run->setEnabled(!running() && m_model && !m_data->text().isEmpty() && !methods().isEmpty() && !bits().isEmpty());
  m_cancel->setEnabled(running());
}
