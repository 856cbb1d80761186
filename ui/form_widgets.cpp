// SPDX-License-Identifier: Apache-2.0
#include "ui/form_widgets.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

QSpinBox* makeSpinBox(QWidget* parent, int lo, int hi, int value, const QString& tip) {
  auto* s = new QSpinBox(parent);
  s->setRange(lo, hi);
  s->setValue(value);
  s->setToolTip(tip);
  return s;
}

void layoutJobPanel(QWidget* panel, QFormLayout* form, QPushButton* run, QPushButton* cancel, QProgressBar* progress,
                    QLabel* status, QWidget* view) {
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(run);
  buttons->addWidget(cancel);
  buttons->addWidget(progress, 1);
  auto* layout = new QVBoxLayout(panel);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(form);
  layout->addLayout(buttons);
  layout->addWidget(status);
  layout->addWidget(view, 1);
}
