// SPDX-License-Identifier: Apache-2.0
#include "ui/analyze_dialog.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>

namespace {

QWidget* withBrowse(QLineEdit* edit, const std::function<void()>& browse, QWidget* parent) {
  auto* w = new QWidget(parent);
  auto* row = new QHBoxLayout(w);
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(edit, 1);
  auto* button = new QPushButton(QObject::tr("Browse…"), w);
  QObject::connect(button, &QPushButton::clicked, w, browse);
  row->addWidget(button);
  return w;
}

}  // namespace

AnalyzeDialog::AnalyzeDialog(int context, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Analyze activations and weights"));
  QSettings s;
  m_text = new QLineEdit(s.value(QStringLiteral("analyze/text")).toString(), this);
  m_text->setToolTip(tr("UTF-8 text, tokenized with the model's own tokenizer; windows are taken from its start"));
  m_windows = new QSpinBox(this);
  m_windows->setRange(1, 1024);
  m_windows->setValue(s.value(QStringLiteral("analyze/windows"), 8).toInt());
  m_windows->setToolTip(tr("Consecutive windows of the text to run through the model"));
  m_seqlen = new QSpinBox(this);
  m_seqlen->setRange(0, std::max(1, context));
  m_seqlen->setSpecialValueText(tr("auto (min(256, context))"));
  m_seqlen->setValue(std::min(context, s.value(QStringLiteral("analyze/seqlen"), 0).toInt()));
  m_compare = new QCheckBox(tr("QSUR under identity, smoothing, rotation, rotation+smoothing"), this);
  m_compare->setChecked(s.value(QStringLiteral("analyze/compare"), true).toBool());
  m_learned = new QLineEdit(s.value(QStringLiteral("analyze/learned")).toString(), this);
  m_learned->setPlaceholderText(tr("optional: transforms.safetensors or an `ostq calibrate` output directory"));
  m_alpha = new QDoubleSpinBox(this);
  m_alpha->setRange(0.0, 1.0);
  m_alpha->setSingleStep(0.05);
  m_alpha->setValue(s.value(QStringLiteral("analyze/smoothAlpha"), 0.5).toDouble());
  m_alpha->setToolTip(tr("SmoothQuant migration strength α of the smoothing sets"));

  auto* form = new QFormLayout;
  form->addRow(tr("Calibration &text:"), withBrowse(m_text, [this] {
                 const QString f = QFileDialog::getOpenFileName(this, tr("Calibration text"), m_text->text(),
                                                                tr("Text (*.txt *.raw *.tokens);;All files (*)"));
                 if (!f.isEmpty()) m_text->setText(f);
               }, this));
  form->addRow(tr("&Windows:"), m_windows);
  form->addRow(tr("Window &length:"), m_seqlen);
  form->addRow(tr("&Compare:"), m_compare);
  form->addRow(tr("&Learned transforms:"), withBrowse(m_learned, [this] {
                 const QString f = QFileDialog::getOpenFileName(this, tr("Learned transforms"), m_learned->text(),
                                                                tr("Transforms (*.safetensors);;All files (*)"));
                 if (!f.isEmpty()) m_learned->setText(f);
               }, this));
  form->addRow(tr("Smoothing &α:"), m_alpha);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Analyze"));
  connect(buttons, &QDialogButtonBox::accepted, this, &AnalyzeDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buttons);
  resize(620, sizeHint().height());
}

AnalysisRequest AnalyzeDialog::request() const {
  AnalysisRequest r;
  r.textPath = m_text->text().trimmed();
  r.windows = m_windows->value();
  r.seqlen = m_seqlen->value();
  r.compare = m_compare->isChecked();
  r.learnedPath = m_learned->text().trimmed();
  r.smoothAlpha = m_alpha->value();
  return r;
}

void AnalyzeDialog::accept() {
  const AnalysisRequest r = request();
  if (!QFileInfo(r.textPath).isFile()) {
    QMessageBox::warning(this, windowTitle(), tr("Choose a calibration text file (\"%1\" is not a file).").arg(r.textPath));
    return;
  }
  if (!r.learnedPath.isEmpty() && !QFileInfo::exists(r.learnedPath)) {
    QMessageBox::warning(this, windowTitle(), tr("The learned transforms \"%1\" do not exist.").arg(r.learnedPath));
    return;
  }
  QSettings s;
  s.setValue(QStringLiteral("analyze/text"), r.textPath);
  s.setValue(QStringLiteral("analyze/windows"), r.windows);
  s.setValue(QStringLiteral("analyze/seqlen"), r.seqlen);
  s.setValue(QStringLiteral("analyze/compare"), r.compare);
  s.setValue(QStringLiteral("analyze/learned"), r.learnedPath);
  s.setValue(QStringLiteral("analyze/smoothAlpha"), r.smoothAlpha);
  QDialog::accept();
}
