// SPDX-License-Identifier: Apache-2.0
// The options of `ostq calibrate` as a form: every field has a tooltip saying what it does and its
// CLI flag, and the form validates as the user types — invalidReason() names the first problem
// (shown inline by the view, which keeps Start disabled meanwhile).
#pragma once

#include <QStringList>
#include <QWidget>

#include "core/calib/calibration_request.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

class CalibrationForm : public QWidget {
  Q_OBJECT
 public:
  explicit CalibrationForm(QWidget* parent = nullptr);

  // The model the run will calibrate (context and head size bound seqlen and the bit widths).
  void setModel(const QString& path, int contextLength, int headDim);

  void setMethod(const QString& method);  // "ostquant" | "spinquant"
  void setBits(const QString& bits);      // "4-4-16", ...
  void setCalibrationFiles(const QStringList& files);
  void setOutputDir(const QString& dir);
  void setSteps(int steps);
  void setBatch(int batch, int microBatch);  // batch 0 = method default
  void setWindows(int calibWindows, int seqlen);  // seqlen 0 = min(2048, context)
  void setUseRtn(bool rtn);
  void setCheckpointEvery(int steps);
  void setValidation(int heldOutWindows, int everySteps);
  void setSeed(int seed);
  void setForwardBatch(int windows);
  void setLoss(const QString& loss);  // "" = method default, kl_top | ce | kl
  void setInit(const QString& init);  // "" = auto, womi | hadamard
  void setLearningRates(double rotation, double scale);  // 0 = method default

  ostq::CalibrationRequest request() const;
  QString outputDir() const;
  // "" when the form can start a run; otherwise the first problem, in words.
  QString invalidReason() const { return m_invalidReason; }
  // Checks the fields again (files can appear or vanish behind the form's back, e.g. after a run).
  void validate();

 Q_SIGNALS:
  void changed();

 private:
  QString checkFields() const;

  QString m_modelPath;
  int m_context = 0, m_headDim = 0;
  QComboBox* m_method;
  QComboBox* m_bits;
  QLineEdit* m_calib;
  QLineEdit* m_out;
  QLineEdit* m_tokenizer;
  QSpinBox* m_steps;
  QSpinBox* m_batch;
  QSpinBox* m_microBatch;
  QSpinBox* m_forwardBatch;
  QSpinBox* m_windows;
  QSpinBox* m_seqlen;
  QDoubleSpinBox* m_lrRot;
  QDoubleSpinBox* m_lrScale;
  QComboBox* m_loss;
  QSpinBox* m_topk;
  QComboBox* m_init;
  QSpinBox* m_seed;
  QCheckBox* m_rtn;
  QSpinBox* m_checkpointEvery;
  QSpinBox* m_valWindows;
  QSpinBox* m_valEvery;
  QString m_invalidReason;
};
