// SPDX-License-Identifier: Apache-2.0
#include "ui/export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cstdio>

#include "core/export/export.h"
#include "core/export/export_reader.h"
#include "core/quant/quantized_io.h"
#include "core/tokenizer/tokenizer.h"
#include "ui/engine_worker.h"

namespace {

using ostq::ExportFormat;

constexpr ExportFormat kFormats[] = {ExportFormat::kHfDense, ExportFormat::kGptq, ExportFormat::kCompressedTensors,
                                     ExportFormat::kGguf, ExportFormat::kLlama2c};

QString fmt_bytes(uint64_t b) {
  if (b >= (uint64_t{1} << 30)) return QStringLiteral("%1 GiB").arg(b / double(uint64_t{1} << 30), 0, 'f', 2);
  if (b >= (uint64_t{1} << 20)) return QStringLiteral("%1 MiB").arg(b / double(uint64_t{1} << 20), 0, 'f', 2);
  return QStringLiteral("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
}

// Loads the bundle on the worker unless the dialog already holds it.
std::shared_ptr<const ostq::QuantizedModel> load_bundle(const std::string& path,
                                                        std::shared_ptr<const ostq::QuantizedModel> cached) {
  if (cached) return cached;
  if (!ostq::is_quantized_model_dir(path)) {
    ostq::throw_invalid(path + ": not an ostq bundle (a directory with ostq_quant.json, written by quantize or calibrate)");
  }
  ostq::Result<ostq::QuantizedModel> q = ostq::quantized_model_load(path);
  ostq::throw_if_error(q.status());
  return std::make_shared<const ostq::QuantizedModel>(std::move(q).value());
}

}  // namespace

ExportDialog::ExportDialog(EngineWorker* worker, const QString& bundle, QWidget* parent)
    : QDialog(parent), m_worker(worker) {
  setWindowTitle(tr("Export quantized model"));
  auto* form = new QFormLayout;
  m_bundle = new QLineEdit(this);
  m_bundle->setToolTip(tr("A directory written by `ostq quantize --out` or `ostq calibrate --out`"));
  auto* browse = new QPushButton(tr("Browse…"), this);
  auto* bundleRow = new QHBoxLayout;
  bundleRow->addWidget(m_bundle);
  bundleRow->addWidget(browse);
  form->addRow(tr("Bundle"), bundleRow);
  m_format = new QComboBox(this);
  for (ExportFormat f : kFormats) m_format->addItem(QString::fromLatin1(ostq::export_format_name(f)));
  m_format->setToolTip(tr("hf-dense: any HF loader (dequantized). gptq / compressed-tensors: packed int4/int8 "
                          "for transformers and vLLM. gguf: llama.cpp (Q4_0/Q8_0). llama2c: llama2.c run/runq"));
  form->addRow(tr("Format"), m_format);
  m_llama2cVersion = new QComboBox(this);
  m_llama2cVersion->addItems({tr("v0 (fp32)"), tr("v2 (Q8_0 groups)")});
  form->addRow(tr("llama2.c version"), m_llama2cVersion);
  m_output = new QLineEdit(this);
  form->addRow(tr("Output"), m_output);
  m_tokenizer = new QLineEdit(this);
  m_tokenizer->setPlaceholderText(tr("the bundle's tokenizer"));
  form->addRow(tr("Tokenizer"), m_tokenizer);
  m_verifyData = new QLineEdit(this);
  m_verifyData->setPlaceholderText(tr("optional: text for the perplexity check"));
  m_verifyWindows = new QSpinBox(this);
  m_verifyWindows->setRange(1, 100000);
  m_verifyWindows->setValue(40);
  auto* verifyRow = new QHBoxLayout;
  verifyRow->addWidget(m_verifyData);
  verifyRow->addWidget(new QLabel(tr("windows"), this));
  verifyRow->addWidget(m_verifyWindows);
  form->addRow(tr("Verify with"), verifyRow);
  m_estimate = new QLabel(tr("Choose a bundle"), this);
  m_estimate->setWordWrap(true);
  form->addRow(tr("Planned size"), m_estimate);

  m_progress = new QProgressBar(this);
  m_progress->setRange(0, 1000);
  m_log = new QPlainTextEdit(this);
  m_log->setReadOnly(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  m_exportButton = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
  m_cancelButton = buttons->addButton(tr("Cancel export"), QDialogButtonBox::ActionRole);
  m_cancelButton->setEnabled(false);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(m_progress);
  layout->addWidget(m_log, 1);
  layout->addWidget(buttons);

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open ostq bundle"), m_bundle->text());
    if (!dir.isEmpty()) setBundle(dir);
  });
  connect(m_bundle, &QLineEdit::editingFinished, this, [this] {
    updateDefaultOutput();
    requestEstimate();
  });
  connect(m_format, &QComboBox::currentTextChanged, this, [this] {
    m_llama2cVersion->setEnabled(m_format->currentText() == QStringLiteral("llama2c"));
    updateDefaultOutput();
    requestEstimate();
  });
  connect(m_llama2cVersion, &QComboBox::currentIndexChanged, this, &ExportDialog::requestEstimate);
  connect(m_output, &QLineEdit::textEdited, this, [this] { m_outputEdited = true; });
  connect(m_exportButton, &QPushButton::clicked, this, &ExportDialog::startExport);
  connect(m_cancelButton, &QPushButton::clicked, this, &ExportDialog::cancelExport);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_worker, &EngineWorker::jobProgress, this,
          [this](quint64 id, double fraction, const QString& stage, const QString& detail) {
            if (id != m_job) return;
            m_progress->setValue(static_cast<int>(1000 * std::min(1.0, std::max(0.0, fraction))));
            m_progress->setFormat(stage + QStringLiteral(" %p% ") + detail.left(60));
          });
  connect(m_worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    if (id != m_job) return;
    setRunning(0);
    appendLog((cancelled ? tr("Cancelled: nothing was written at the output path. ") : tr("Failed: ")) + message);
    Q_EMIT exportFinished(false, message);
  });
  m_llama2cVersion->setEnabled(false);
  if (!bundle.isEmpty()) setBundle(bundle);
}

void ExportDialog::setBundle(const QString& path) {
  m_bundle->setText(path);
  updateDefaultOutput();
  requestEstimate();
}
void ExportDialog::setFormat(const QString& name) { m_format->setCurrentText(name); }
void ExportDialog::setOutput(const QString& path) {
  m_output->setText(path);
  m_outputEdited = true;
}
void ExportDialog::setTokenizer(const QString& path) { m_tokenizer->setText(path); }
void ExportDialog::setVerifyData(const QString& path, int windows) {
  m_verifyData->setText(path);
  m_verifyWindows->setValue(windows);
}
QString ExportDialog::estimateText() const { return m_estimate->text(); }
QString ExportDialog::logText() const { return m_log->toPlainText(); }

void ExportDialog::updateDefaultOutput() {
  if (m_outputEdited || m_bundle->text().isEmpty()) return;
  const auto format = ostq::export_format_parse(m_format->currentText().toStdString());
  if (format.is_ok()) {
    m_output->setText(QString::fromStdString(ostq::default_export_path(m_bundle->text().toStdString(), format.value())));
  }
}

void ExportDialog::appendLog(const QString& line) { m_log->appendPlainText(line); }

void ExportDialog::setRunning(quint64 job) {
  m_job = job;
  m_exportButton->setEnabled(job == 0);
  m_cancelButton->setEnabled(job != 0);
}

// Plans the export on the worker (nothing written) and shows size and bits per parameter. The tag
// keeps only the latest request queued while the user flips through formats.
void ExportDialog::requestEstimate() {
  const std::string bundle = m_bundle->text().toStdString();
  if (bundle.empty()) return;
  m_estimate->setText(tr("planning…"));
  ostq::ExportOptions o;
  o.format = ostq::export_format_parse(m_format->currentText().toStdString()).value();
  o.llama2c_version = m_llama2cVersion->currentIndex() == 1 ? 2 : 0;
  o.size_only = true;
  o.tokenizer_path = m_tokenizer->text().isEmpty() ? ostq::bundle_tokenizer_path(bundle) : m_tokenizer->text().toStdString();
  auto cached = m_loadedPath == m_bundle->text() ? m_loaded : nullptr;
  const QString path = m_bundle->text();
  QPointer<ExportDialog> self(this);
  m_worker->submit(tr("Plan export"), QStringLiteral("export-estimate"), this,
                   [self, bundle, o, cached, path](const ostq::ProgressFn&) -> EngineWorker::Deliver {
                     QString text;
                     std::shared_ptr<const ostq::QuantizedModel> q;
                     try {
                       q = load_bundle(bundle, cached);
                       const ostq::ExportReport r = ostq::export_quantized(*q, bundle + ".planned", o);
                       text = QObject::tr("%1 of weights for %2 parameters: %3 bits per parameter")
                                  .arg(fmt_bytes(r.weight_bytes))
                                  .arg(r.parameters)
                                  .arg(r.bits_per_parameter, 0, 'f', 2);
                       for (const std::string& n : r.notes) text += QStringLiteral("\n• ") + QString::fromStdString(n);
                     } catch (const ostq::StatusError& e) {
                       text = QObject::tr("cannot export: %1").arg(QString::fromStdString(e.status().message()));
                     }
                     return [self, text, q, path] {
                       if (!self) return;
                       if (q) {
                         self->m_loaded = q;
                         self->m_loadedPath = path;
                       }
                       self->m_estimate->setText(text);
                       Q_EMIT self->estimateReady(text);
                     };
                   });
}

void ExportDialog::startExport() {
  if (m_job != 0) return;
  const std::string bundle = m_bundle->text().toStdString();
  const std::string out = m_output->text().toStdString();
  if (bundle.empty() || out.empty()) {
    appendLog(tr("Choose a bundle and an output path."));
    return;
  }
  ostq::ExportOptions o;
  o.format = ostq::export_format_parse(m_format->currentText().toStdString()).value();
  o.llama2c_version = m_llama2cVersion->currentIndex() == 1 ? 2 : 0;
  o.source = bundle;
  o.tokenizer_path = m_tokenizer->text().isEmpty() ? ostq::bundle_tokenizer_path(bundle) : m_tokenizer->text().toStdString();
  ostq::VerifyOptions v;
  v.data_file = m_verifyData->text().toStdString();
  v.max_windows = m_verifyWindows->value();
  auto cached = m_loadedPath == m_bundle->text() ? m_loaded : nullptr;
  appendLog(tr("Exporting %1 to %2 (%3)…").arg(m_bundle->text(), m_output->text(), m_format->currentText()));
  QPointer<ExportDialog> self(this);
  const quint64 id = m_worker->submit(
      tr("Export"), QString(), this,
      [self, bundle, out, o, v, cached](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
        std::shared_ptr<const ostq::QuantizedModel> q = load_bundle(bundle, cached);
        ostq::ExportOptions eo = o;
        eo.progress = ostq::progress_range(progress, 0.0, v.data_file.empty() ? 0.9 : 0.5);
        const ostq::ExportReport r = ostq::export_quantized(*q, out, eo);
        std::unique_ptr<ostq::Tokenizer> tokenizer;
        if (!v.data_file.empty()) {
          auto t = ostq::tokenizer_load(o.tokenizer_path, static_cast<int32_t>(q->model->config.vocab_size));
          ostq::throw_if_error(t.status());
          tokenizer = std::move(t).value();
        }
        ostq::VerifyOptions vo = v;
        vo.progress = ostq::progress_range(progress, v.data_file.empty() ? 0.9 : 0.5, 1.0);
        ostq::Result<ostq::VerifyReport> vr = ostq::verify_export(out, *q, tokenizer.get(), vo);
        QStringList lines;
        lines << QObject::tr("Wrote %1: %2 in all, %3 bits per parameter")
                     .arg(QString::fromStdString(r.path), fmt_bytes(r.bytes))
                     .arg(r.bits_per_parameter, 0, 'f', 3);
        for (const std::string& n : r.notes) lines << QStringLiteral("note: ") + QString::fromStdString(n);
        bool passed = false;
        QString verdict;
        if (!vr.is_ok()) {
          // The export is complete on disk; only its check did not run to the end.
          verdict = vr.status().code() == ostq::StatusCode::kCancelled
                        ? QObject::tr("written, verification cancelled")
                        : QObject::tr("written, verification failed: %1").arg(QString::fromStdString(vr.status().to_string()));
        } else {
          for (const std::string& c : vr->checks) lines << QStringLiteral("verified: ") + QString::fromStdString(c);
          passed = vr->passed;
          verdict = passed ? QObject::tr("PASS") : QObject::tr("FAIL: %1").arg(QString::fromStdString(vr->failure));
        }
        lines << QObject::tr("verdict: %1").arg(verdict);
        return [self, lines, passed, verdict] {
          if (!self) return;
          for (const QString& l : lines) self->appendLog(l);
          self->m_progress->setValue(1000);
          self->setRunning(0);
          Q_EMIT self->exportFinished(passed, verdict);
        };
      });
  setRunning(id);
}

void ExportDialog::cancelExport() {
  if (m_job != 0) m_worker->cancel(m_job);
}
