// SPDX-License-Identifier: Apache-2.0
// Analysis ▸ Analyze…: the calibration text (remembered), windows, window length, the transform
// comparison and an optional learned transforms file. Validates before it accepts.
#pragma once

#include <QDialog>

#include "ui/analysis_session.h"

class QCheckBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

class AnalyzeDialog : public QDialog {
  Q_OBJECT
 public:
  // `context` is the model's context length (bounds the window length).
  AnalyzeDialog(int context, QWidget* parent = nullptr);
  AnalysisRequest request() const;
  void accept() override;  // validates, remembers the choices in QSettings

 private:
  QLineEdit *m_text, *m_learned;
  QSpinBox *m_windows, *m_seqlen;
  QCheckBox* m_compare;
  QDoubleSpinBox* m_alpha;
};
