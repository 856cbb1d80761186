// SPDX-License-Identifier: Apache-2.0
#include "ui/calibration_view.h"

#include <QApplication>
#include <QChart>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>

#include "core/calib/calibration_job.h"
#include "core/model/model.h"
#include "ui/calibration_form.h"
#include "ui/chart_view.h"
#include "ui/engine_worker.h"
#include "core/engine/runnable_model.h"
#include "ui/series_binding.h"
#include "ui/theme.h"

namespace {

QString hms(double seconds) {
  const qint64 s = qint64(std::max(0.0, seconds) + 0.5);
  return s >= 3600 ? QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QLatin1Char('0')).arg(s % 60, 2, 10, QLatin1Char('0'))
                   : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

bool checkpointExists(const QString& out) {
  return !out.isEmpty() &&
         QFileInfo::exists(QString::fromStdString(ostq::calibration_checkpoint_dir(out.toStdString())) +
                           QStringLiteral("/checkpoint.pt"));
}

}  // namespace

CalibrationView::CalibrationView(EngineWorker* worker, QWidget* parent) : QWidget(parent), m_worker(worker) {
  m_form = new CalibrationForm(this);
  m_reason = new QLabel(this);
  m_reason->setWordWrap(true);
  m_reason->setStyleSheet(QStringLiteral("color: #c0392b"));
  m_start = new QPushButton(tr("Start"), this);
  m_start->setToolTip(tr("Run the calibration on the engine thread; the output directory appears when it completes."));
  m_resume = new QPushButton(tr("Resume"), this);
  m_resume->setToolTip(tr("Continue a cancelled run from its checkpoint (OUT.ckpt) with the same options."));
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_cancel->setToolTip(tr("Stop after the current step: a checkpoint is written, nothing appears at the output path."));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_start);
  buttons->addWidget(m_resume);
  buttons->addWidget(m_cancel);
  buttons->addStretch(1);

  auto* formPanel = new QWidget(this);
  auto* formLayout = new QVBoxLayout(formPanel);
  formLayout->addWidget(m_form);
  formLayout->addWidget(m_reason);
  formLayout->addLayout(buttons);
  formLayout->addStretch(1);
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(formPanel);
  scroll->setWidgetResizable(true);
  scroll->setMinimumWidth(340);

  m_stats = new QLabel(tr("No run yet"), this);
  m_stats->setWordWrap(true);  // a long stats line must not widen the window
  m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_progress = new QProgressBar(this);
  m_progress->setRange(0, 1000);
  m_log = new QPlainTextEdit(this);
  m_log->setReadOnly(true);
  m_log->setMaximumBlockCount(5000);
  auto* right = new QSplitter(Qt::Vertical, this);
  right->addWidget(buildCharts());
  right->addWidget(m_log);
  right->setStretchFactor(0, 4);
  right->setStretchFactor(1, 1);
  auto* runPanel = new QWidget(this);
  auto* runLayout = new QVBoxLayout(runPanel);
  runLayout->addWidget(m_stats);
  runLayout->addWidget(m_progress);
  runLayout->addWidget(right, 1);

  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(scroll);
  split->addWidget(runPanel);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(split);

  connect(m_form, &CalibrationForm::changed, this, &CalibrationView::updateButtons);
  connect(m_start, &QPushButton::clicked, this, &CalibrationView::start);
  connect(m_resume, &QPushButton::clicked, this, &CalibrationView::resume);
  connect(m_cancel, &QPushButton::clicked, this, &CalibrationView::cancel);
  connect(worker, &EngineWorker::jobProgress, this,
          [this](quint64 id, double fraction, const QString& stage, const QString& detail) {
            if (id != m_job) return;
            m_progress->setValue(static_cast<int>(1000 * std::clamp(fraction, 0.0, 1.0)));
            m_progress->setFormat(stage + QStringLiteral(" %p% ") + detail.left(60));
          });
  connect(worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    if (id != m_job) return;
    if (!cancelled) return finish(State::Failed, message);
    const bool resumable = checkpointExists(m_runOutput);
    appendLog(tr("Cancelled: nothing was written at %1.%2")
                  .arg(m_runOutput, resumable ? tr(" Resume continues from the last checkpoint.") : QString()));
    finish(State::Cancelled, message);
  });
  updateButtons();
}

CalibrationView::~CalibrationView() {
  if (m_job != 0 && m_worker) m_worker->cancel(m_job);
}

QWidget* CalibrationView::buildCharts() {
  m_curve = new TrainCurveModel(this);
  m_binding = new SeriesBinding(m_curve, this);
  // One chart per quantity: loss, learning rates (log scale: rotation and scale rates differ by 10×
  // to 1000×) and the gradient norm before clipping.
  auto makeChart = [this](const QString& title, const QString& yTitle, bool logY,
                          const QList<QPair<int, QString>>& columns, const QString& exportName) {
    auto* chart = new QChart;
    theme::applyTo(chart);
    chart->setTitle(title);
    chart->legend()->setVisible(columns.size() > 1);
    auto* x = new QValueAxis(chart);
    x->setTitleText(tr("step"));
    x->setLabelFormat(QStringLiteral("%d"));
    QAbstractAxis* y = nullptr;
    if (logY) {
      auto* log = new QLogValueAxis(chart);
      log->setLabelFormat(QStringLiteral("%g"));  // 0.01, 0.001: fixed decimals would print 0.000
      y = log;
    } else {
      y = new QValueAxis(chart);
    }
    y->setTitleText(yTitle);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    for (int i = 0; i < columns.size(); ++i) {
      auto* s = new QLineSeries(chart);
      s->setName(columns[i].second);
      chart->addSeries(s);
      s->attachAxis(x);
      s->attachAxis(y);
      s->setPen(QPen(theme::seriesColor(i), 2.0));
      m_binding->bind(s, TrainCurveModel::kStep, columns[i].first);
    }
    auto* view = new ExportableChartView(chart, m_curve, this);
    view->setExportName(exportName);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(140);
    return view;
  };
  m_lossChart = makeChart(tr("Loss"), tr("loss"), false,
                          {{TrainCurveModel::kLoss, tr("training batch")}, {TrainCurveModel::kValidationLoss, tr("held-out")}},
                          QStringLiteral("loss_curve"));
  m_lrChart = makeChart(tr("Learning rate"), tr("lr"), true,
                        {{TrainCurveModel::kLrRotation, tr("rotation")}, {TrainCurveModel::kLrScale, tr("scale")}},
                        QStringLiteral("learning_rate"));
  m_gradChart = makeChart(tr("Gradient norm"), tr("‖g‖ before clipping"), false,
                          {{TrainCurveModel::kGradNorm, tr("grad norm")}}, QStringLiteral("grad_norm"));
  auto* charts = new QSplitter(Qt::Vertical, this);
  charts->addWidget(m_lossChart);
  auto* lower = new QSplitter(Qt::Horizontal, charts);
  lower->addWidget(m_lrChart);
  lower->addWidget(m_gradChart);
  charts->addWidget(lower);
  charts->setStretchFactor(0, 3);
  charts->setStretchFactor(1, 2);
  return charts;
}

void CalibrationView::setModel(std::shared_ptr<ostq::Model> model, const QString& path) {
  m_model = std::move(model);
  m_modelPath = path;
  m_form->setModel(path, m_model ? int(m_model->config.max_seq_len) : 0, m_model ? int(m_model->config.head_dim) : 0);
}

bool CalibrationView::canStart() const { return m_job == 0 && m_model && m_form->invalidReason().isEmpty(); }

bool CalibrationView::canResume() const {
  // The output does not exist yet (form valid) but a checkpoint of a stopped run does.
  return canStart() && checkpointExists(m_form->outputDir());
}

void CalibrationView::applyTheme() {
  for (ExportableChartView* view : charts()) {
    theme::applyTo(view->chart());
    const QList<QAbstractSeries*> series = view->chart()->series();
    for (int i = 0; i < series.size(); ++i) {
      if (auto* line = qobject_cast<QLineSeries*>(series[i])) line->setPen(QPen(theme::seriesColor(i), 2.0));
    }
  }
}

QString CalibrationView::invalidReason() const { return m_form->invalidReason(); }
QString CalibrationView::statsText() const { return m_stats->text(); }
QString CalibrationView::logText() const { return m_log->toPlainText(); }
void CalibrationView::start() { launch(false); }
void CalibrationView::resume() { launch(true); }

void CalibrationView::cancel() {
  if (m_job != 0 && m_worker) m_worker->cancel(m_job);
}

void CalibrationView::launch(bool resume) {
  if (!(resume ? canResume() : canStart()) || !m_worker) return;
  ostq::CalibrationRequest request = m_form->request();
  // The GUI resumes from the default checkpoint location (the CLI's --resume OUT.ckpt).
  if (resume) request.resume = ostq::calibration_checkpoint_dir(request.out);
  ostq::CalibrationJobOptions options;
  try {
    options = ostq::calibration_job_options_from(request, *m_model);
  } catch (const ostq::StatusError& e) {
    appendLog(tr("Cannot start: %1").arg(QString::fromStdString(e.status().message())));
    return;
  }
  if (!resume) m_curve->clear();  // a resumed run replays its steps into the same curve
  m_runOutput = m_form->outputDir();
  appendLog(tr("%1: %2").arg(resume ? tr("Resuming") : tr("Starting"), QString::fromStdString(ostq::calibration_command_line(request, m_modelPath.toStdString()))));
  const quint64 serial = ++m_serial;
  QPointer<CalibrationView> self(this);
  std::shared_ptr<ostq::Model> model = m_model;
  EngineWorker::Work work = [self, model, options, serial](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
    // The tokenizer `ostq calibrate` loads: the chosen file, else the one next to the model.
    std::unique_ptr<ostq::Tokenizer> tokenizer = ostq::tokenizer_for_model(*model, options.tokenizer_path);
    ostq::CalibrationJobOptions o = options;
    // Runs on the worker: each step is copied to the GUI thread, never touching a widget here.
    o.progress = [self, serial, progress](const ostq::Progress& p) {
      if (p.train) {
        QMetaObject::invokeMethod(
            qApp, [self, serial, step = *p.train] { if (self) self->onStep(serial, step); }, Qt::QueuedConnection);
      }
      return progress(p);
    };
    ostq::Result<ostq::CalibrationJobResult> r = ostq::run_calibration_job(*model, *tokenizer, o);
    ostq::throw_if_error(r.status());
    QStringList report;
    for (const auto& [k, v] : r->report) report << QStringLiteral("%1  %2").arg(QString::fromStdString(k), -20).arg(QString::fromStdString(v));
    return [self, report, out = QString::fromStdString(r->out_dir)] {
      if (!self) return;
      for (const QString& line : report) self->appendLog(line);
      self->appendLog(tr("Saved %1 (evaluate it in the Evaluation tab, or with ostq eval).").arg(out));
      self->m_lastOutput = out;
      self->m_progress->setValue(1000);
      self->finish(State::Finished, out);
    };
  };
  m_job = m_worker->submit(resume ? tr("Resume calibration") : tr("Calibrate"), QString(), this, std::move(work));
  m_state = State::Running;
  m_clock.start();
  m_progress->setValue(0);
  m_stats->setText(tr("Preparing: tokenizing the calibration text…"));
  updateButtons();
}

void CalibrationView::onStep(quint64 serial, const ostq::TrainStep& t) {
  if (serial != m_serial || m_job == 0) return;
  TrainCurveModel::Point p;
  p.step = int(t.step);
  p.loss = t.loss;
  p.lr_rotation = t.lr_rotation;
  p.lr_scale = t.lr_scale;
  p.grad_norm = t.grad_norm;
  p.tokens_per_second = t.tokens_per_second;
  p.validation_loss = t.validation_loss;
  m_curve->append({p});
  m_stats->setText(tr("step %1 / %2 · loss %3 · %4 tokens/s · elapsed %5 · ETA %6")
                       .arg(t.step)
                       .arg(t.total)
                       .arg(t.loss, 0, 'g', 5)
                       .arg(QLocale().toString(t.tokens_per_second, 'f', 0), hms(t.elapsed_seconds), hms(t.eta_seconds)));
  Q_EMIT stepReported(p.step, p.loss);
}

void CalibrationView::finish(State state, const QString& message) {
  m_job = 0;
  m_state = state;
  m_binding->refreshNow();  // the last steps show without waiting for the coalescing timer
  if (state == State::Failed) appendLog(tr("Failed: %1").arg(message));
  if (state == State::Finished)
    m_stats->setText(m_stats->text() + tr(" · done in %1").arg(hms(m_clock.elapsed() / 1000.0)));
  m_form->validate();  // the output (or its checkpoint) now exists
  updateButtons();
  Q_EMIT runFinished(state == State::Finished, message, state == State::Cancelled);
}

void CalibrationView::updateButtons() {
  const bool idle = m_job == 0;
  m_form->setEnabled(idle);
  m_start->setEnabled(canStart());
  m_resume->setEnabled(canResume());
  m_cancel->setEnabled(!idle);
  const QString reason = m_form->invalidReason();
  // Right after a run wrote its output, "already exists" is the expected state, not a mistake.
  const bool justWritten = m_state == State::Finished && idle && m_form->outputDir() == m_lastOutput;
  m_reason->setText(justWritten ? tr("Written: %1. Choose a new output directory for another run.").arg(m_lastOutput) : reason);
  m_reason->setStyleSheet(justWritten ? QString() : QStringLiteral("color: #c0392b"));
  m_reason->setVisible(!reason.isEmpty());
  m_start->setToolTip(reason.isEmpty() ? tr("Run the calibration on the engine thread") : reason);
}

void CalibrationView::appendLog(const QString& line) { m_log->appendPlainText(line); }
