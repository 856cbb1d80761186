// SPDX-License-Identifier: Apache-2.0
#include "ui/generation_panel.h"

#include <QApplication>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTextCursor>
#include <QVBoxLayout>

#include "core/engine/generate.h"
#include "core/model/model.h"
#include "ui/engine_worker.h"
#include "core/engine/runnable_model.h"

GenerationPanel::GenerationPanel(EngineWorker* worker, QWidget* parent) : QWidget(parent), m_worker(worker) {
  m_prompt = new QLineEdit(QStringLiteral("Once upon a time"), this);
  m_prompt->setToolTip(tr("--prompt: echoed before the continuation; empty = start from BOS."));
  m_steps = new QSpinBox(this);
  m_steps->setRange(1, 1 << 16);
  m_steps->setValue(96);
  m_steps->setToolTip(tr("--steps: positions to run, prompt included (llama2.c semantics); capped at the context."));
  m_bundle = new QComboBox(this);
  m_bundle->setEditable(true);
  m_bundle->setMinimumContentsLength(24);
  m_bundle->setToolTip(tr("The quantized bundle whose greedy output goes in the right pane."));
  auto* browse = new QPushButton(tr("…"), this);
  m_run = new QPushButton(tr("Generate"), this);
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_fpTitle = new QLabel(tr("<b>FP</b>"), this);
  m_qTitle = new QLabel(tr("<b>Quantized</b>"), this);
  m_fp = new QPlainTextEdit(this);
  m_quantized = new QPlainTextEdit(this);
  for (QPlainTextEdit* e : {m_fp, m_quantized}) e->setReadOnly(true);
  m_status = new QLabel(this);

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Prompt"), this));
  top->addWidget(m_prompt, 2);
  top->addWidget(new QLabel(tr("steps"), this));
  top->addWidget(m_steps);
  top->addWidget(new QLabel(tr("bundle"), this));
  top->addWidget(m_bundle, 1);
  top->addWidget(browse);
  top->addWidget(m_run);
  top->addWidget(m_cancel);
  auto* panes = new QGridLayout;
  panes->addWidget(m_fpTitle, 0, 0);
  panes->addWidget(m_qTitle, 0, 1);
  panes->addWidget(m_fp, 1, 0);
  panes->addWidget(m_quantized, 1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(top);
  layout->addLayout(panes, 1);
  layout->addWidget(m_status);

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("Quantized bundle"));
    if (!d.isEmpty()) addBundle(d);
  });
  connect(m_bundle, &QComboBox::currentTextChanged, this, &GenerationPanel::updateButtons);
  connect(m_run, &QPushButton::clicked, this, &GenerationPanel::run);
  connect(m_cancel, &QPushButton::clicked, this, &GenerationPanel::cancel);
  connect(worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    if (id == m_job) finish(false, message, cancelled);
  });
  updateButtons();
}

void GenerationPanel::setModel(std::shared_ptr<ostq::Model> model, const QString&) {
  m_model = std::move(model);
  updateButtons();
}

void GenerationPanel::addBundle(const QString& dir) {
  if (m_bundle->findText(dir) < 0) m_bundle->addItem(dir);
  m_bundle->setCurrentText(dir);
}

void GenerationPanel::setPrompt(const QString& prompt) { m_prompt->setText(prompt); }
void GenerationPanel::setSteps(int steps) { m_steps->setValue(steps); }
QString GenerationPanel::fpText() const { return m_fp->toPlainText(); }
QString GenerationPanel::quantizedText() const { return m_quantized->toPlainText(); }

void GenerationPanel::run() {
  const QString bundle = m_bundle->currentText().trimmed();
  if (running() || !m_model || bundle.isEmpty()) return;
  ostq::GenerateOptions o;  // greedy: temperature 0, as `ostq generate` by default
  o.prompt = m_prompt->text().toStdString();
  o.steps = m_steps->value();
  m_fp->clear();
  m_quantized->clear();
  m_qTitle->setText(tr("<b>Quantized</b> — %1").arg(QFileInfo(bundle).fileName().toHtmlEscaped()));
  const quint64 serial = ++m_serial;
  QPointer<GenerationPanel> self(this);
  std::shared_ptr<ostq::Model> model = m_model;
  m_job = m_worker->submit(
      tr("Generate"), QString(), this,
      [self, model, o, bundle, serial](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
        QStringList stats;
        ostq::RunnableModel runs[2];
        runs[0].model = model;
        runs[1] = ostq::runnable_model_load(bundle.toStdString());
        const std::string execution[2] = {"", ostq::runnable_use_kernels(runs[1], true)};  // as `ostq generate`
        for (int pane = 0; pane < 2; ++pane) {
          const ostq::RunnableModel& r = runs[pane];
          std::unique_ptr<ostq::Tokenizer> tokenizer = ostq::tokenizer_for_model(*r.model);
          ostq::GenerateOptions go = o;
          go.hooks = r.hooks.get();
          int64_t pieces = 0;
          // Each decoded piece goes to the GUI thread as it comes; the progress call is the cancel flag.
          auto onText = [&](const std::string& piece) {
            QMetaObject::invokeMethod(
                qApp, [self, serial, pane, p = QString::fromStdString(piece)] { if (self) self->appendPiece(serial, pane, p); },
                Qt::QueuedConnection);
            return progress(ostq::Progress{(pane + double(++pieces) / double(go.steps)) / 2.0, "generate", {}, {}});
          };
          ostq::Result<ostq::GenerateResult> g = ostq::generate(*r.model, *tokenizer, go, onText);
          ostq::throw_if_error(g.status());
          stats << QStringLiteral("%1: %2 tokens, %3 tokens/s%4")
                       .arg(pane == 0 ? QStringLiteral("FP") : QStringLiteral("quantized"))
                       .arg(qint64(g->tokens.size()) - g->prompt_tokens)
                       .arg(g->tokens_per_s, 0, 'f', 0)
                       .arg(execution[pane].empty() ? QString() : QStringLiteral(" (%1)").arg(QString::fromStdString(execution[pane])));
        }
        return [self, stats] {
          if (self) self->finish(true, stats.join(QStringLiteral(" · ")), false);
        };
      });
  updateButtons();
}

void GenerationPanel::appendPiece(quint64 serial, int pane, const QString& piece) {
  if (serial != m_serial) return;
  QPlainTextEdit* e = pane == 0 ? m_fp : m_quantized;
  e->moveCursor(QTextCursor::End);
  e->insertPlainText(piece);
}

void GenerationPanel::cancel() {
  if (m_job != 0) m_worker->cancel(m_job);
}

void GenerationPanel::finish(bool ok, const QString& message, bool cancelled) {
  m_job = 0;
  m_status->setText(cancelled ? tr("Cancelled") : message);
  updateButtons();
  Q_EMIT generationFinished(ok, message, cancelled);
}

void GenerationPanel::updateButtons() {
  m_run->setEnabled(!running() && m_model && !m_bundle->currentText().trimmed().isEmpty());
  m_cancel->setEnabled(running());
}
