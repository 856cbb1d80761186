// SPDX-License-Identifier: Apache-2.0
// The calibration view: the form of `ostq calibrate` (ui/calibration_form.h), Start / Cancel /
// Resume, live loss, learning-rate and gradient-norm curves, step counter, tokens/s, ETA, a
// progress bar and a log. A run is exactly run_calibration_job (core/calib/calibration_job.h) with
// the options the CLI would build (core/calib/calibration_request.h), on the engine worker, so it writes
// the same output directory, atomically; OUT.ckpt holds the checkpoints a Resume continues from.
#pragma once

#include <QElapsedTimer>
#include <QPointer>
#include <QWidget>

#include <memory>

#include "ui/series_model.h"

class CalibrationForm;
class EngineWorker;
class ExportableChartView;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class SeriesBinding;

namespace ostq {
struct Model;
struct TrainStep;
}

class CalibrationView : public QWidget {
  Q_OBJECT
 public:
  enum class State { Idle, Running, Finished, Cancelled, Failed };

  explicit CalibrationView(EngineWorker* worker, QWidget* parent = nullptr);
  ~CalibrationView() override;  // cancels a running job (its delivery is dropped)
  void setModel(std::shared_ptr<ostq::Model> model, const QString& path);
  void applyTheme();  // the system switched light / dark

  CalibrationForm* form() const { return m_form; }
  bool canStart() const;
  bool canResume() const;  // idle, valid options but an existing OUT.ckpt/checkpoint.pt
  QString invalidReason() const;
  bool running() const { return m_job != 0; }
  State state() const { return m_state; }
  TrainCurveModel* curve() const { return m_curve; }
  QList<ExportableChartView*> charts() const { return {m_lossChart, m_lrChart, m_gradChart}; }
  QString statsText() const;
  QString logText() const;
  QString lastOutputDir() const { return m_lastOutput; }

 public Q_SLOTS:
  void start();
  void resume();
  void cancel();

 Q_SIGNALS:
  // One optimiser step reached the GUI thread (already appended to curve()).
  void stepReported(int step, double loss);
  // ok = the output directory was written; cancelled = stopped on request (resumable when
  // checkpoints are on). message: the output directory, or why it stopped.
  void runFinished(bool ok, const QString& message, bool cancelled);

 private:
  QWidget* buildCharts();
  void launch(bool resume);
  void onStep(quint64 serial, const ostq::TrainStep& step);
  void finish(State state, const QString& message);
  void updateButtons();
  void appendLog(const QString& line);

  QPointer<EngineWorker> m_worker;  // may go first when the main window closes
  std::shared_ptr<ostq::Model> m_model;
  QString m_modelPath;
  CalibrationForm* m_form = nullptr;
  QLabel* m_reason = nullptr;
  QLabel* m_stats = nullptr;
  QProgressBar* m_progress = nullptr;
  QPlainTextEdit* m_log = nullptr;
  QPushButton* m_start = nullptr;
  QPushButton* m_resume = nullptr;
  QPushButton* m_cancel = nullptr;
  TrainCurveModel* m_curve = nullptr;
  SeriesBinding* m_binding = nullptr;
  ExportableChartView* m_lossChart = nullptr;
  ExportableChartView* m_lrChart = nullptr;
  ExportableChartView* m_gradChart = nullptr;
  State m_state = State::Idle;
  quint64 m_job = 0;
  quint64 m_serial = 0;  // run counter: steps posted by an older run are dropped
  QString m_runOutput, m_lastOutput;
  QElapsedTimer m_clock;
};
