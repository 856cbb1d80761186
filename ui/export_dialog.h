// SPDX-License-Identifier: Apache-2.0
// Export a quantized bundle to a runtime format (FORMATS.md §6) from the GUI: the same core calls
// as `ostq export` — plan (size and bits per parameter shown before writing), write, reload and
// verify — each run as a job on the engine worker, with progress and cancel.
#pragma once

#include <QDialog>

#include <memory>

class EngineWorker;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace ostq {
struct QuantizedModel;
}

class ExportDialog : public QDialog {
  Q_OBJECT
 public:
  ExportDialog(EngineWorker* worker, const QString& bundle, QWidget* parent = nullptr);

  // For tests and scripting: the widgets' values.
  void setBundle(const QString& path);
  void setFormat(const QString& name);  // "gguf", ...
  void setOutput(const QString& path);
  void setTokenizer(const QString& path);
  void setVerifyData(const QString& path, int windows);
  QString estimateText() const;
  QString logText() const;
  bool running() const { return m_job != 0; }

 public Q_SLOTS:
  void startExport();
  void cancelExport();

 Q_SIGNALS:
  void estimateReady(const QString& text);
  // passed = the export was written and verified; message = the verdict or the error.
  void exportFinished(bool passed, const QString& message);

 private:
  void requestEstimate();
  void updateDefaultOutput();
  void appendLog(const QString& line);
  void setRunning(quint64 job);

  EngineWorker* m_worker;
  QLineEdit* m_bundle;
  QComboBox* m_format;
  QComboBox* m_llama2cVersion;
  QLineEdit* m_output;
  QLineEdit* m_tokenizer;
  QLineEdit* m_verifyData;
  QSpinBox* m_verifyWindows;
  QLabel* m_estimate;
  QProgressBar* m_progress;
  QPlainTextEdit* m_log;
  QPushButton* m_exportButton;
  QPushButton* m_cancelButton;
  bool m_outputEdited = false;
  quint64 m_job = 0;
  // The bundle last loaded on the worker, reused while its path stays the same.
  std::shared_ptr<const ostq::QuantizedModel> m_loaded;
  QString m_loadedPath;
};
