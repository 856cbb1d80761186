// SPDX-License-Identifier: Apache-2.0
#include "ui/calibration_form.h"
#include "ui/form_widgets.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "core/quant/quant_config.h"

namespace {

// A learning rate: 0 shows as "default" (the method's spec value is used).
QDoubleSpinBox* rate(QWidget* parent, const QString& tip) {
  auto* s = new QDoubleSpinBox(parent);
  s->setDecimals(5);
  s->setRange(0.0, 10.0);
  s->setSingleStep(0.001);
  s->setSpecialValueText(QObject::tr("default"));
  s->setToolTip(tip);
  return s;
}

QStringList splitFiles(const QString& text) {
  QStringList out;
  for (const QString& f : text.split(QLatin1Char(';'), Qt::SkipEmptyParts)) {
    if (!f.trimmed().isEmpty()) out << f.trimmed();
  }
  return out;
}

std::string std_(const QString& s) { return s.toStdString(); }

}  // namespace

CalibrationForm::CalibrationForm(QWidget* parent) : QWidget(parent) {
  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);
  m_method = new QComboBox(this);
  m_method->addItems({QStringLiteral("ostquant"), QStringLiteral("spinquant")});
  m_method->setToolTip(tr("--method: OSTQuant learns a residual rotation, per-KV-head rotations and smoothing "
                          "scales on a KL-Top loss; SpinQuant learns rotations only, with Cayley SGD on cross-entropy."));
  form->addRow(tr("Method"), m_method);
  m_bits = new QComboBox(this);
  m_bits->setEditable(true);
  m_bits->addItems({QStringLiteral("4-4-4"), QStringLiteral("4-4-16"), QStringLiteral("4-16-16"),
                    QStringLiteral("4-8-8"), QStringLiteral("8-8-8")});
  m_bits->setToolTip(tr("--bits W-A-KV: weight, activation and KV-cache bits (16 = not quantized)."));
  form->addRow(tr("Bits (W-A-KV)"), m_bits);

  m_calib = new QLineEdit(this);
  m_calib->setPlaceholderText(tr("text file(s), separated by ;"));
  m_calib->setToolTip(tr("--calib: UTF-8 text the windows are sampled from; several files are concatenated in order. "
                         "Keep it apart from the text you evaluate on."));
  auto* addCalib = new QPushButton(tr("Add…"), this);
  auto* calibRow = new QHBoxLayout;
  calibRow->addWidget(m_calib, 1);
  calibRow->addWidget(addCalib);
  form->addRow(tr("Calibration text"), calibRow);
  m_out = new QLineEdit(this);
  m_out->setPlaceholderText(tr("new directory"));
  m_out->setToolTip(tr("--out: the bundle directory to create (must not exist). It appears only when the run "
                       "completes; checkpoints go to OUT.ckpt, from which Resume continues."));
  auto* browseOut = new QPushButton(tr("Browse…"), this);
  auto* outRow = new QHBoxLayout;
  outRow->addWidget(m_out, 1);
  outRow->addWidget(browseOut);
  form->addRow(tr("Output directory"), outRow);
  m_tokenizer = new QLineEdit(this);
  m_tokenizer->setPlaceholderText(tr("the tokenizer next to the model"));
  m_tokenizer->setToolTip(tr("--tokenizer: tokenizer.bin, tokenizer.model or tokenizer.json; copied into the bundle."));
  form->addRow(tr("Tokenizer"), m_tokenizer);

  m_steps = makeSpinBox(this, 1, 100000, 100, tr("--steps: optimiser steps (the spec uses 100 for OSTQuant)."));
  form->addRow(tr("Steps"), m_steps);
  m_batch = makeSpinBox(this, 0, 4096, 0, tr("--batch: windows per optimiser step; default 16 for W4A16, 32 otherwise, "
                                      "8 for SpinQuant."));
  m_batch->setSpecialValueText(tr("default"));
  m_microBatch = makeSpinBox(this, 1, 4096, 4, tr("--micro-batch: windows per forward/backward; gradients accumulate up to "
                                           "the batch, so memory grows with this, not with the batch."));
  auto* batchRow = new QHBoxLayout;
  batchRow->addWidget(m_batch);
  batchRow->addWidget(m_microBatch);
  form->addRow(tr("Batch / micro-batch"), batchRow);
  m_windows = makeSpinBox(this, 1, 100000, 128, tr("--calib-windows: windows sampled at seeded random starts of the "
                                            "calibration text (learning and GPTQ)."));
  m_seqlen = makeSpinBox(this, 0, 1 << 20, 0, tr("--seqlen: tokens per window; default min(2048, model context)."));
  m_seqlen->setSpecialValueText(tr("default"));
  auto* windowRow = new QHBoxLayout;
  windowRow->addWidget(m_windows);
  windowRow->addWidget(m_seqlen);
  form->addRow(tr("Windows / seqlen"), windowRow);
  m_valWindows = makeSpinBox(this, 0, 100000, 0, tr("--val-windows: windows cut from the end of the calibration text and held out of "
                                              "training; the run keeps the step with the lowest loss on them (0 = off)."));
  m_valWindows->setSpecialValueText(tr("off"));
  m_valEvery = makeSpinBox(this, 1, 100000, 10, tr("--val-every: steps between held-out evaluations."));
  auto* valRow = new QHBoxLayout;
  valRow->addWidget(m_valWindows);
  valRow->addWidget(m_valEvery);
  form->addRow(tr("Held-out windows / every"), valRow);
  m_forwardBatch = makeSpinBox(this, 1, 4096, 4, tr("--forward-batch: windows per forward pass in GPTQ (speed only)."));
  form->addRow(tr("Forward batch"), m_forwardBatch);
  m_lrRot = rate(this, tr("--lr-rot: rotation learning rate (default 0.0169 for OSTQuant, 1.5 for SpinQuant)."));
  m_lrScale = rate(this, tr("--lr-scale: smoothing-scale learning rate (default 0.00179; OSTQuant only)."));
  auto* lrRow = new QHBoxLayout;
  lrRow->addWidget(m_lrRot);
  lrRow->addWidget(m_lrScale);
  form->addRow(tr("LR rotation / scale"), lrRow);
  m_loss = new QComboBox(this);
  m_loss->addItem(tr("default"), QString());
  for (const char* l : {"kl_top", "ce", "kl"}) m_loss->addItem(QLatin1String(l), QLatin1String(l));
  m_loss->setToolTip(tr("--loss: kl_top (KL over the FP model's top-k tokens; OSTQuant default), ce (next-token "
                        "cross-entropy; SpinQuant default) or kl (full-vocabulary KL)."));
  m_topk = makeSpinBox(this, 1, 1 << 20, 1000, tr("--topk: k of the KL-Top loss, capped at the vocabulary size."));
  auto* lossRow = new QHBoxLayout;
  lossRow->addWidget(m_loss);
  lossRow->addWidget(m_topk);
  form->addRow(tr("Loss / top-k"), lossRow);
  m_init = new QComboBox(this);
  m_init->addItem(tr("auto"), QString());
  for (const char* i : {"womi", "hadamard"}) m_init->addItem(QLatin1String(i), QLatin1String(i));
  m_init->setToolTip(tr("--init: rotation initialisation; auto = WOMI (weight-outlier-minimising) when "
                        "activations are quantized, else a random Hadamard."));
  form->addRow(tr("Init"), m_init);
  m_seed = makeSpinBox(this, 0, 1 << 30, 42, tr("--seed: initialisation, window sampling and order."));
  form->addRow(tr("Seed"), m_seed);
  m_rtn = new QCheckBox(tr("RTN weights (no GPTQ)"), this);
  m_rtn->setToolTip(tr("--rtn: round-to-nearest instead of GPTQ for the weights after learning (faster, worse)."));
  form->addRow(QString(), m_rtn);
  m_checkpointEvery = makeSpinBox(this, 0, 100000, 10, tr("--checkpoint-every: steps between checkpoints in OUT.ckpt "
                                                   "(0 = off: a cancelled run cannot resume)."));
  m_checkpointEvery->setSpecialValueText(tr("off"));
  form->addRow(tr("Checkpoint every"), m_checkpointEvery);

  connect(addCalib, &QPushButton::clicked, this, [this] {
    const QStringList files = QFileDialog::getOpenFileNames(this, tr("Calibration text"), {},
                                                            tr("Text (*.txt *.raw *.tokens);;All files (*)"));
    if (!files.isEmpty()) setCalibrationFiles(splitFiles(m_calib->text()) + files);
  });
  connect(browseOut, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getSaveFileName(this, tr("Output directory to create"), m_out->text(), {}, nullptr,
                                                     QFileDialog::DontConfirmOverwrite);
    if (!dir.isEmpty()) m_out->setText(dir);
  });
  for (QLineEdit* e : {m_calib, m_out, m_tokenizer}) connect(e, &QLineEdit::textChanged, this, &CalibrationForm::validate);
  for (QComboBox* c : {m_method, m_bits, m_loss, m_init}) connect(c, &QComboBox::currentTextChanged, this, &CalibrationForm::validate);
  for (QSpinBox* s : {m_steps, m_batch, m_microBatch, m_forwardBatch, m_windows, m_seqlen, m_topk, m_seed, m_checkpointEvery,
                      m_valWindows, m_valEvery})
    connect(s, &QSpinBox::valueChanged, this, &CalibrationForm::validate);
  for (QDoubleSpinBox* s : {m_lrRot, m_lrScale}) connect(s, &QDoubleSpinBox::valueChanged, this, &CalibrationForm::validate);
  connect(m_rtn, &QCheckBox::toggled, this, &CalibrationForm::validate);
  validate();
}

void CalibrationForm::setModel(const QString& path, int contextLength, int headDim) {
  m_modelPath = path;
  m_context = contextLength;
  m_headDim = headDim;
  m_seqlen->setMaximum(contextLength);
  validate();
}

void CalibrationForm::setMethod(const QString& method) { m_method->setCurrentText(method); }
void CalibrationForm::setBits(const QString& bits) { m_bits->setCurrentText(bits); }
void CalibrationForm::setCalibrationFiles(const QStringList& files) { m_calib->setText(files.join(QLatin1Char(';'))); }
void CalibrationForm::setOutputDir(const QString& dir) { m_out->setText(dir); }
void CalibrationForm::setSteps(int steps) { m_steps->setValue(steps); }
void CalibrationForm::setBatch(int batch, int microBatch) {
  m_batch->setValue(batch);
  m_microBatch->setValue(microBatch);
}
void CalibrationForm::setWindows(int calibWindows, int seqlen) {
  m_windows->setValue(calibWindows);
  m_seqlen->setValue(seqlen);
}
void CalibrationForm::setUseRtn(bool rtn) { m_rtn->setChecked(rtn); }
void CalibrationForm::setCheckpointEvery(int steps) { m_checkpointEvery->setValue(steps); }

void CalibrationForm::setValidation(int heldOutWindows, int everySteps) {
  m_valWindows->setValue(heldOutWindows);
  m_valEvery->setValue(everySteps);
}
void CalibrationForm::setSeed(int seed) { m_seed->setValue(seed); }
void CalibrationForm::setForwardBatch(int windows) { m_forwardBatch->setValue(windows); }
void CalibrationForm::setLoss(const QString& loss) { m_loss->setCurrentIndex(m_loss->findData(loss)); }
void CalibrationForm::setInit(const QString& init) { m_init->setCurrentIndex(m_init->findData(init)); }
void CalibrationForm::setLearningRates(double rotation, double scale) {
  m_lrRot->setValue(rotation);
  m_lrScale->setValue(scale);
}
QString CalibrationForm::outputDir() const { return m_out->text().trimmed(); }

ostq::CalibrationRequest CalibrationForm::request() const {
  ostq::CalibrationRequest r;
  r.method = std_(m_method->currentText());
  r.bits = std_(m_bits->currentText().trimmed());
  for (const QString& f : splitFiles(m_calib->text())) r.calib.push_back(std_(f));
  r.out = std_(outputDir());
  r.tokenizer = std_(m_tokenizer->text().trimmed());
  r.learn.steps = m_steps->value();
  r.learn.batch = m_batch->value();
  r.learn.micro_batch = m_microBatch->value();
  r.batch = m_forwardBatch->value();
  r.calib_windows = m_windows->value();
  r.seqlen = m_seqlen->value();
  r.learn.lr_rot = m_lrRot->value();
  r.learn.lr_scale = m_lrScale->value();
  r.learn.loss = std_(m_loss->currentData().toString());
  r.learn.topk = m_topk->value();
  r.learn.val_windows = m_valWindows->value();
  r.learn.val_every = m_valEvery->value();
  r.learn.init = std_(m_init->currentData().toString());
  r.seed = static_cast<uint64_t>(m_seed->value());
  r.rtn = m_rtn->isChecked();
  r.checkpoint_every = m_checkpointEvery->value();
  return r;
}

void CalibrationForm::validate() {
  // SpinQuant has no smoothing scales and no KL-Top: their fields would be ignored.
  const bool ost = m_method->currentText() == QLatin1String("ostquant");
  m_lrScale->setEnabled(ost);
  m_valEvery->setEnabled(m_valWindows->value() > 0);
  const QString loss = m_loss->currentData().toString();
  m_topk->setEnabled(loss == QLatin1String("kl_top") || (loss.isEmpty() && ost));
  m_invalidReason = checkFields();
  Q_EMIT changed();
}

QString CalibrationForm::checkFields() const {
  if (m_modelPath.isEmpty()) return tr("Open a model first (File ▸ Open).");
  const ostq::Result<ostq::QuantConfig> bits = ostq::quant_config_parse(std_(m_bits->currentText().trimmed()), m_headDim);
  if (!bits.is_ok()) return tr("Bits: %1").arg(QString::fromStdString(bits.status().message()));
  const QStringList files = splitFiles(m_calib->text());
  if (files.isEmpty()) return tr("Add a calibration text file.");
  for (const QString& f : files) {
    if (!QFileInfo(f).isFile() || !QFileInfo(f).isReadable()) return tr("Calibration text %1: no such readable file.").arg(f);
  }
  const QString out = outputDir();
  if (out.isEmpty()) return tr("Choose an output directory (it is created by the run).");
  if (QFileInfo::exists(out)) return tr("%1 already exists: calibration writes a new directory.").arg(out);
  if (!QFileInfo(QFileInfo(out).absolutePath()).isDir()) return tr("The folder %1 does not exist.").arg(QFileInfo(out).absolutePath());
  const QString tok = m_tokenizer->text().trimmed();
  if (!tok.isEmpty() && !QFileInfo(tok).isFile()) return tr("Tokenizer %1: no such file.").arg(tok);
  if (m_seqlen->value() > m_context) return tr("Seqlen %1 exceeds the model context of %2.").arg(m_seqlen->value()).arg(m_context);
  if (m_valWindows->value() >= m_windows->value())
    return tr("Held-out windows (%1) must leave some of the %2 calibration windows to train on.")
        .arg(m_valWindows->value()).arg(m_windows->value());
  if (m_batch->value() > 0 && m_microBatch->value() > m_batch->value())
    return tr("The micro-batch (%1) must not exceed the batch (%2).").arg(m_microBatch->value()).arg(m_batch->value());
  return {};
}
