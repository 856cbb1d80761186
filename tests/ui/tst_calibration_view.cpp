// SPDX-License-Identifier: Apache-2.0
// The calibration view runs the real calibration job (run_calibration_job) on the engine worker
// with stories260K and a few steps over tiny windows: steps reach the GUI thread as signals and
// curve rows, the output directory holds what `ostq calibrate` writes, a cancel leaves nothing at
// the output path and Resume finishes from the checkpoint, and the GUI event loop stays responsive
// while training runs (latency probe). The form refuses bad options with a reason, Start disabled;
// in the main window, a finished run's bundle is offered to the evaluation tab.
#include <QAbstractItemModelTester>
#include <QTabWidget>
#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/calib/calibration_job.h"
#include "core/calib/calibration_request.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/util/file_util.h"
#include "test_data.h"
#include "ui/calibration_form.h"
#include "ui/calibration_view.h"
#include "ui/engine_worker.h"
#include "ui/evaluation_view.h"
#include "ui/main_window.h"
#include "ui/perplexity_panel.h"

using namespace ostq;

namespace {

// The first 40 kB of the TinyStories validation text: enough for 8 windows of 128 tokens.
QString write_calib_text(const QTemporaryDir& dir, const std::string& data) {
  const std::string path = ostq_test::qstr(dir.path()) + "/calib.txt";
  std::ofstream(path) << read_file(data).substr(0, 40000);
  return QString::fromStdString(path);
}

// A few OSTQuant steps at W4A4 over 8 windows × 128 tokens, RTN weights, a checkpoint every step.
void configure(CalibrationView& view, const QString& text, const QString& out, int steps) {
  CalibrationForm* f = view.form();
  f->setMethod(QStringLiteral("ostquant"));
  f->setBits(QStringLiteral("4-4-16"));
  f->setCalibrationFiles({text});
  f->setOutputDir(out);
  f->setSteps(steps);
  f->setBatch(4, 2);
  f->setWindows(8, 128);
  f->setUseRtn(true);
  f->setCheckpointEvery(1);
  f->setSeed(7);
}

}  // namespace

class TestCalibrationView : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void form_explains_why_it_cannot_start() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    EngineWorker worker;
    CalibrationView view(&worker);
    QVERIFY(!view.canStart());
    QVERIFY(view.invalidReason().contains(QStringLiteral("Open a model")));
    view.setModel(model_load(model_path).value(), QString::fromStdString(model_path));
    configure(view, write_calib_text(tmp, data), tmp.path() + QStringLiteral("/out"), 2);
    QVERIFY2(view.canStart(), qPrintable(view.invalidReason()));
    view.form()->setBits(QStringLiteral("4-x-4"));
    QVERIFY(!view.canStart());
    QVERIFY(view.invalidReason().startsWith(QStringLiteral("Bits:")));
    view.form()->setBits(QStringLiteral("4-4-16"));
    view.form()->setOutputDir(tmp.path());  // exists
    QVERIFY(view.invalidReason().contains(QStringLiteral("already exists")));
    view.form()->setOutputDir(tmp.path() + QStringLiteral("/out"));
    view.form()->setBatch(2, 4);
    QVERIFY(view.invalidReason().contains(QStringLiteral("micro-batch")));
    view.form()->setBatch(4, 2);
    view.form()->setCalibrationFiles({tmp.path() + QStringLiteral("/missing.txt")});
    QVERIFY(view.invalidReason().contains(QStringLiteral("missing.txt")));
    QVERIFY(!view.canResume());
  }

  // The options are those run_calibrate (app/cmd_calibrate.cpp) builds for the same flags.
  void options_match_the_cli() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    auto model = model_load(model_path).value();
    // The form's fields, as the user would set them.
    CalibrationForm form;
    form.setModel(QString::fromStdString(model_path), static_cast<int>(model->config.max_seq_len),
                  static_cast<int>(model->config.head_dim));
    form.setMethod(QStringLiteral("spinquant"));
    form.setBits(QStringLiteral("4-4-4"));
    form.setCalibrationFiles({QStringLiteral("a.txt"), QStringLiteral("b.txt")});
    form.setOutputDir(QStringLiteral("/tmp/x/out/"));
    form.setSteps(7);
    form.setBatch(8, 2);
    form.setForwardBatch(3);
    form.setWindows(16, 64);
    form.setLoss(QStringLiteral("ce"));
    form.setInit(QStringLiteral("hadamard"));
    form.setLearningRates(0.5, 0.0);
    form.setUseRtn(true);
    form.setCheckpointEvery(5);
    form.setValidation(4, 3);
    CalibrationRequest r = form.request();
    const CalibrationJobOptions o = calibration_job_options_from(r, *model);
    QCOMPARE(QString::fromStdString(o.method.name()), QStringLiteral("spinquant"));
    QVERIFY(!o.method.gptq_weights);
    QCOMPARE(o.calib_files.size(), size_t(2));
    QCOMPARE(o.learn.steps, int64_t(7));
    QCOMPARE(o.learn.batch, int64_t(8));
    QCOMPARE(o.learn.micro_batch, int64_t(2));
    QCOMPARE(o.batch, int64_t(3));
    QCOMPARE(o.calib_windows, int64_t(16));
    QCOMPARE(o.seqlen, int64_t(64));
    QVERIFY(o.learn.loss && *o.learn.loss == LossKind::kCrossEntropy);
    QVERIFY(o.learn.init == RotationInit::kHadamard);
    QCOMPARE(o.learn.lr_rotation, 0.5);
    QCOMPARE(o.learn.lr_scale, 0.0);
    QCOMPARE(o.learn.checkpoint_every, int64_t(5));
    QCOMPARE(o.learn.validation_windows, int64_t(4));
    QCOMPARE(o.learn.validate_every, int64_t(3));
    QCOMPARE(QString::fromStdString(o.learn.checkpoint_dir), QStringLiteral("/tmp/x/out.ckpt"));
    QVERIFY(!o.learn.resume);
    QCOMPARE(o.seed, uint64_t(42));
    QVERIFY(QString::fromStdString(o.tokenizer_path).endsWith(QStringLiteral("tok512.bin")) ||
            QString::fromStdString(o.tokenizer_path).endsWith(QStringLiteral(".model")));
    const QString cli = QString::fromStdString(calibration_command_line(r, "m.bin"));
    QVERIFY2(cli.contains(QStringLiteral("--method spinquant --bits 4-4-4 --calib a.txt --calib b.txt")), qPrintable(cli));
    QVERIFY(cli.contains(QStringLiteral("--rtn")));
    QVERIFY2(cli.contains(QStringLiteral("--val-windows 4 --val-every 3")), qPrintable(cli));
    r.resume = calibration_checkpoint_dir(r.out);  // no checkpoint there: refused as the CLI refuses it
    QVERIFY_THROWS_EXCEPTION(StatusError, calibration_job_options_from(r, *model));
  }

  void short_run_writes_the_bundle() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    const QString out = tmp.path() + QStringLiteral("/calibrated");
    EngineWorker worker;
    CalibrationView view(&worker);
    QAbstractItemModelTester tester(view.curve(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    view.resize(1200, 800);
    view.show();  // charts redraw for real while the probe runs
    view.setModel(model_load(model_path).value(), QString::fromStdString(model_path));
    configure(view, write_calib_text(tmp, data), out, 4);
    QSignalSpy steps(&view, &CalibrationView::stepReported);
    QSignalSpy finished(&view, &CalibrationView::runFinished);

    // Event-loop latency probe: a 5 ms timer on the GUI thread while the worker trains.
    QElapsedTimer clock;
    qint64 last = -1, worst = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    connect(&probe, &QTimer::timeout, [&] {
      const qint64 now = clock.elapsed();
      if (last >= 0) worst = std::max(worst, now - last);
      last = now;
    });
    view.start();
    QVERIFY(view.running());
    QCOMPARE(view.state(), CalibrationView::State::Running);
    clock.start();
    probe.start(5);
    QVERIFY(finished.wait(120000));
    probe.stop();
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(view.logText()));
    QCOMPARE(view.state(), CalibrationView::State::Finished);
    QCOMPARE(finished.first().at(1).toString(), out);

    QCOMPARE(steps.count(), 4);
    QCOMPARE(steps.last().at(0).toInt(), 4);
    QVERIFY(std::isfinite(steps.first().at(1).toDouble()));
    QCOMPARE(view.curve()->rowCount(), 4);
    QCOMPARE(view.curve()->points().back().step, 4);
    QVERIFY(view.curve()->points().back().tokens_per_second > 0.0);
    QVERIFY2(view.statsText().contains(QStringLiteral("step 4 / 4")), qPrintable(view.statsText()));
    // What `ostq calibrate` writes, atomically: the bundle with its transforms, loss log and report.
    for (const char* f : {"ostq_quant.json", "transforms.safetensors", "loss_log.csv", "report.json", "config.json"}) {
      QVERIFY2(QFileInfo::exists(out + QLatin1Char('/') + QLatin1String(f)), f);
    }
    QVERIFY(!QFileInfo::exists(QString::fromStdString(calibration_checkpoint_dir(out.toStdString()))));
    QVERIFY(view.logText().contains(QStringLiteral("ostq calibrate")));
    QVERIFY(!view.canStart());  // the output exists now
    qInfo("worst GUI event-loop gap while calibrating (5 ms timer): %lld ms", static_cast<long long>(worst));
    // Work on the GUI thread (a training step, GPTQ, the export) would stall it for whole stages;
    // the bound only has to sit above scheduler noise: 12 ms idle, 112 ms measured while another
    // test trained on both cores of a 2-core machine.
    QVERIFY2(worst < 500, qPrintable(QStringLiteral("GUI stall %1 ms").arg(worst)));
  }

  void cancel_leaves_nothing_and_resume_finishes() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    const QString out = tmp.path() + QStringLiteral("/cancelled");
    EngineWorker worker;
    CalibrationView view(&worker);
    view.setModel(model_load(model_path).value(), QString::fromStdString(model_path));
    configure(view, write_calib_text(tmp, data), out, 12);
    QSignalSpy finished(&view, &CalibrationView::runFinished);
    // Cancel as soon as the first step arrives: mid-training.
    connect(&view, &CalibrationView::stepReported, &view, &CalibrationView::cancel, Qt::SingleShotConnection);
    view.start();
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.first().at(0).toBool(), false);
    QCOMPARE(finished.first().at(2).toBool(), true);
    QCOMPARE(view.state(), CalibrationView::State::Cancelled);
    QVERIFY(!QFileInfo::exists(out));
    QVERIFY(view.curve()->rowCount() >= 1 && view.curve()->rowCount() < 12);
    QVERIFY(view.canResume());

    // Resume continues from the checkpoint and completes the same directory (fewer steps left).
    view.form()->setSteps(12);
    finished.clear();
    QSignalSpy steps(&view, &CalibrationView::stepReported);
    view.resume();
    QVERIFY(finished.wait(240000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(view.logText()));
    QVERIFY(QFileInfo::exists(out + QStringLiteral("/ostq_quant.json")));
    QVERIFY(steps.count() < 12);
    QCOMPARE(view.curve()->points().back().step, 12);
    QVERIFY(view.logText().contains(QStringLiteral("resumed_from_step")));
  }

  // The main window has both tabs, and a finished calibration's bundle is offered for evaluation.
  void main_window_hands_the_bundle_to_evaluation() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    MainWindow window;
    window.setInteractive(false);
    QStringList tabs;
    for (int i = 0; i < window.tabs()->count(); ++i) tabs << window.tabs()->tabText(i);
    QVERIFY2(tabs.contains(QStringLiteral("&Calibration")) && tabs.contains(QStringLiteral("&Evaluation")),
             qPrintable(tabs.join(QLatin1Char(','))));
    QSignalSpy shown(&window, &MainWindow::modelShown);
    window.openModel(QString::fromStdString(model_path));
    QVERIFY(shown.wait(20000));
    const QString out = tmp.path() + QStringLiteral("/from-window");
    configure(*window.calibrationView(), write_calib_text(tmp, data), out, 2);
    QSignalSpy finished(window.calibrationView(), &CalibrationView::runFinished);
    window.calibrationView()->start();
    QVERIFY(finished.wait(120000));
    QVERIFY(finished.first().at(0).toBool());
    QCOMPARE(window.evaluationView()->perplexity()->bundles(), QStringList{out});
  }
};

QTEST_MAIN(TestCalibrationView)
#include "tst_calibration_view.moc"
