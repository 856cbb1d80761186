// SPDX-License-Identifier: Apache-2.0
#include "ui/job_progress.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QToolButton>

#include "ui/engine_worker.h"

JobProgress::JobProgress(EngineWorker* worker, QPlainTextEdit* log, QWidget* parent)
    : QWidget(parent), m_worker(worker), m_log(log) {
  m_label = new QLabel(this);
  m_bar = new QProgressBar(this);
  m_bar->setRange(0, 1000);
  m_bar->setMaximumWidth(220);
  m_bar->setTextVisible(true);
  m_cancel = new QToolButton(this);
  m_cancel->setText(tr("Cancel"));
  m_cancel->setToolTip(tr("Cancel the running job (Esc)"));
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(m_label);
  row->addWidget(m_bar);
  row->addWidget(m_cancel);
  setVisible(false);
  connect(m_cancel, &QToolButton::clicked, this, &JobProgress::cancelCurrent);
  connect(worker, &EngineWorker::jobStarted, this, [this](quint64 id, const QString& title) {
    m_job = id;
    m_title = title;
    m_clock.start();
    m_bar->setValue(0);
    m_label->setText(title);
    setVisible(true);
    this->log(tr("%1 started").arg(title));
  });
  connect(worker, &EngineWorker::jobProgress, this,
          [this](quint64 id, double fraction, const QString& stage, const QString& detail) {
            if (id != m_job) return;
            m_bar->setValue(int(fraction * 1000));
            m_bar->setFormat(QStringLiteral("%1 %p%").arg(stage));
            m_label->setText(detail.isEmpty() ? m_title : m_title + QStringLiteral(" — ") + detail.left(60));
          });
  connect(worker, &EngineWorker::jobFinished, this, [this](quint64 id) {
    if (id != m_job) return;
    this->log(tr("%1 finished in %2 s").arg(m_title).arg(m_clock.elapsed() / 1000.0, 0, 'f', 1));
    m_job = 0;
    setVisible(false);
  });
  connect(worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    this->log(cancelled ? tr("%1 cancelled").arg(id == m_job ? m_title : tr("queued job")) : tr("error: %1").arg(message));
    if (id != m_job) return;
    m_job = 0;
    setVisible(false);
  });
}

void JobProgress::cancelCurrent() {
  if (m_job != 0) m_worker->cancel(m_job);
}

void JobProgress::log(const QString& line) {
  if (m_log) m_log->appendPlainText(QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss  ")) + line);
}
