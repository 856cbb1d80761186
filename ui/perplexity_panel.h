// SPDX-License-Identifier: Apache-2.0
// Perplexity of the open (FP) model and of each quantized bundle the user adds on one text file,
// with the windows / seqlen of `ostq eval` (core/eval/perplexity.h; bundles load as `ostq eval`
// loads them, core/engine/runnable_model.h). One worker job per model, so rows appear as each finishes;
// Cancel stops the running one and drops the rest.
#pragma once

#include <QList>
#include <QWidget>

#include <memory>

class EngineWorker;
class PerplexityTableModel;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;

namespace ostq {
struct Model;
}

class PerplexityPanel : public QWidget {
  Q_OBJECT
 public:
  explicit PerplexityPanel(EngineWorker* worker, QWidget* parent = nullptr);
  void setModel(std::shared_ptr<ostq::Model> model, const QString& path);
  void addBundle(const QString& dir);  // ignored when already listed
  QStringList bundles() const;
  void setData(const QString& textFile);
  void setWindows(int maxWindows, int seqlen);  // maxWindows 0 = all; seqlen 0 = min(2048, context)
  PerplexityTableModel* table() const { return m_table; }
  QTableView* tableView() const { return m_view; }
  bool running() const { return !m_jobs.isEmpty(); }

 public Q_SLOTS:
  void run();
  void cancel();

 Q_SIGNALS:
  void bundleAdded(const QString& dir);
  // All queued evaluations ended; ok = every row was computed.
  void evaluationFinished(bool ok, const QString& message, bool cancelled);

 private:
  void submitOne(const QString& path, bool fp);
  void jobEnded(quint64 id, const QString& error, bool cancelled);
  void updateButtons();

  EngineWorker* m_worker;
  std::shared_ptr<ostq::Model> m_model;
  QString m_modelPath;
  QLineEdit* m_data;
  QSpinBox* m_windows;
  QSpinBox* m_seqlen;
  QListWidget* m_bundles;
  QPushButton* m_run;
  QPushButton* m_cancel;
  QProgressBar* m_progress;
  QLabel* m_status;
  PerplexityTableModel* m_table;
  QTableView* m_view;
  QList<quint64> m_jobs;
  QStringList m_errors;
  bool m_cancelled = false;
};
