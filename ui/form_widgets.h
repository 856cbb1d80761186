// SPDX-License-Identifier: Apache-2.0
// Small builders shared by the job panels (calibration form, perplexity and comparison panels):
// a spin box with its tooltip, and the panel layout form → Run / Cancel / progress → status → table.
#pragma once

#include <QString>

class QFormLayout;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QWidget;

QSpinBox* makeSpinBox(QWidget* parent, int lo, int hi, int value, const QString& tip);

// Lays `panel` out top to bottom: `form`, a row [run][cancel][progress…], `status`, `view` (stretching).
void layoutJobPanel(QWidget* panel, QFormLayout* form, QPushButton* run, QPushButton* cancel, QProgressBar* progress,
                    QLabel* status, QWidget* view);
