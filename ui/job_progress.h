// SPDX-License-Identifier: Apache-2.0
// The status-bar progress indicator for worker jobs: title, stage, a progress bar and Cancel
// (which cancels the running job through its progress callback). Every long job shows here, and
// each start, end and failure goes to the log pane.
#pragma once

#include <QElapsedTimer>
#include <QWidget>

class EngineWorker;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QToolButton;

class JobProgress : public QWidget {
  Q_OBJECT
 public:
  JobProgress(EngineWorker* worker, QPlainTextEdit* log, QWidget* parent = nullptr);
  quint64 currentJob() const { return m_job; }
  void cancelCurrent();
  void log(const QString& line);

 private:
  EngineWorker* m_worker;
  QPlainTextEdit* m_log;
  QLabel* m_label;
  QProgressBar* m_bar;
  QToolButton* m_cancel;
  quint64 m_job = 0;
  QString m_title;
  QElapsedTimer m_clock;
};
