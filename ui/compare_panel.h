// SPDX-License-Identifier: Apache-2.0
// `ostq compare` from the GUI: the chosen methods × W-A-KV configurations quantized and evaluated
// on the same windows of one text (core/quant/compare.h; the first 20% of the text calibrates,
// evaluation starts after it), shown as a table with the gap to FP. One worker job, cancellable.
#pragma once

#include <QWidget>

#include <memory>

class CompareTableModel;
class EngineWorker;
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

class ComparePanel : public QWidget {
  Q_OBJECT
 public:
  explicit ComparePanel(EngineWorker* worker, QWidget* parent = nullptr);
  void setModel(std::shared_ptr<ostq::Model> model, const QString& path);
  void setData(const QString& textFile);
  void setMethods(const QStringList& methods);  // checks exactly these ("rtn", "quarot+gptq", …)
  void setBits(const QStringList& bits);        // "4-16-16", …
  // calibWindows: --calib-windows; maxEvalWindows: --max-windows (0 = all); seqlen 0 = default.
  void setWindows(int calibWindows, int maxEvalWindows, int seqlen);
  void setLearnSteps(int steps);                // --steps of spinquant / ostquant rows
  QStringList methods() const;
  QStringList bits() const;
  CompareTableModel* table() const { return m_table; }
  QTableView* tableView() const { return m_view; }
  bool running() const { return m_job != 0; }

 public Q_SLOTS:
  void run();
  void cancel();

 Q_SIGNALS:
  void compareFinished(bool ok, const QString& message, bool cancelled);

 private:
  void finish(bool ok, const QString& message, bool cancelled);
  void updateButtons();

  EngineWorker* m_worker;
  std::shared_ptr<ostq::Model> m_model;
  QLineEdit* m_data;
  QListWidget* m_methods;
  QListWidget* m_bits;
  QSpinBox* m_calibWindows;
  QSpinBox* m_evalWindows;
  QSpinBox* m_seqlen;
  QSpinBox* m_steps;
  QPushButton* m_run;
  QPushButton* m_cancel;
  QProgressBar* m_progress;
  QLabel* m_status;
  CompareTableModel* m_table;
  QTableView* m_view;
  quint64 m_job = 0;
};
