// SPDX-License-Identifier: Apache-2.0
// One prompt, greedy continuations of the FP model and of a quantized bundle side by side, as
// `ostq generate` produces them (core/engine/generate.h; the bundle loads as `ostq generate` loads
// it). Text streams into both panes while the worker decodes; Cancel stops it.
#pragma once

#include <QWidget>

#include <memory>

class EngineWorker;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace ostq {
struct Model;
}

class GenerationPanel : public QWidget {
  Q_OBJECT
 public:
  explicit GenerationPanel(EngineWorker* worker, QWidget* parent = nullptr);
  void setModel(std::shared_ptr<ostq::Model> model, const QString& path);
  void addBundle(const QString& dir);  // offered in the bundle box; the newest is selected
  void setPrompt(const QString& prompt);
  void setSteps(int steps);
  QString fpText() const;
  QString quantizedText() const;
  bool running() const { return m_job != 0; }

 public Q_SLOTS:
  void run();
  void cancel();

 Q_SIGNALS:
  void generationFinished(bool ok, const QString& message, bool cancelled);

 private:
  void appendPiece(quint64 serial, int pane, const QString& piece);
  void finish(bool ok, const QString& message, bool cancelled);
  void updateButtons();

  EngineWorker* m_worker;
  std::shared_ptr<ostq::Model> m_model;
  QLineEdit* m_prompt;
  QSpinBox* m_steps;
  QComboBox* m_bundle;
  QPushButton* m_run;
  QPushButton* m_cancel;
  QLabel* m_fpTitle;
  QLabel* m_qTitle;
  QPlainTextEdit* m_fp;
  QPlainTextEdit* m_quantized;
  QLabel* m_status;
  quint64 m_job = 0;
  quint64 m_serial = 0;  // pieces from an older run are dropped
};
