// SPDX-License-Identifier: Apache-2.0
#include "ui/screenshot_run.h"

#include <QApplication>
#include <QDir>
#include <QPixmap>
#include <QTemporaryDir>
#include <QTabWidget>
#include <QTimer>
#include <QTreeView>

#include <cmath>
#include <cstdio>
#include <functional>

#include "core/analysis/analysis.h"
#include "ui/analysis_session.h"
#include "ui/calibration_form.h"
#include "ui/calibration_view.h"
#include "ui/compare_panel.h"
#include "ui/distribution_view.h"
#include "ui/evaluation_view.h"
#include "ui/export_dialog.h"
#include "ui/generation_panel.h"
#include "ui/main_window.h"
#include "ui/perplexity_panel.h"
#include "ui/qsur_view.h"

namespace {

bool save(QWidget* w, const QString& path) {
  const bool ok = w->grab().save(path);
  std::fprintf(stderr, "%s %s\n", ok ? "wrote" : "FAILED to write", qPrintable(path));
  return ok;
}

void fail(const QString& message) {
  std::fprintf(stderr, "screenshot run: %s\n", qPrintable(message));
  QApplication::exit(1);
}

// Runs `then` after the layout and the 40 ms coalesced redraws have settled.
void settle(const std::function<void()>& then, int ms = 400) { QTimer::singleShot(ms, qApp, then); }

// The activation site with the lowest QSUR (the most interesting outliers to show).
std::pair<int, QString> worstSite(const ostq::Analysis& a) {
  std::pair<int, QString> best{0, QStringLiteral("ffn_input")};
  double lowest = 2.0;
  for (const ostq::LayerAnalysis& l : a.layers)
    for (const ostq::TensorStats& s : l.sites)
      if (s.has_qsur && std::isfinite(s.qsur.exact_root) && s.qsur.exact_root < lowest) {
        lowest = s.qsur.exact_root;
        best = {int(l.layer), QString::fromStdString(s.name)};
      }
  return best;
}

void shootExport(MainWindow& window, const QString& dir, const QString& bundle) {
  if (bundle.isEmpty()) return QApplication::exit(0);
  ExportDialog* dialog = window.openExportDialog();
  dialog->resize(760, 560);
  dialog->setFormat(QStringLiteral("gguf"));
  QObject::connect(dialog, &ExportDialog::estimateReady, qApp, [dialog, dir] {
    settle([dialog, dir] { QApplication::exit(save(dialog, dir + QStringLiteral("/export.png")) ? 0 : 1); }, 200);
  });
  dialog->setBundle(bundle);
}

// The evaluation tab filled for real: perplexity of FP vs the calibrated bundle, a small rtn /
// quarot comparison, then FP | quantized generation; saved once all three are in.
void shootEvaluation(MainWindow& window, const QString& dir, const QString& data, const QString& bundle) {
  EvaluationView* view = window.evaluationView();
  window.tabs()->setCurrentWidget(view);
  view->setData(data);
  view->perplexity()->setWindows(16, 128);
  view->comparison()->setMethods({QStringLiteral("rtn"), QStringLiteral("quarot")});
  view->comparison()->setBits({QStringLiteral("4-16-16"), QStringLiteral("4-4-16")});
  view->comparison()->setWindows(16, 16, 128);
  view->generation()->setSteps(120);
  QObject::connect(view->perplexity(), &PerplexityPanel::evaluationFinished, qApp, [view](bool ok, const QString& m) {
    if (!ok) return fail(QStringLiteral("evaluation: ") + m);
    view->comparison()->run();
  }, Qt::SingleShotConnection);
  QObject::connect(view->comparison(), &ComparePanel::compareFinished, qApp, [view](bool ok, const QString& m) {
    if (!ok) return fail(QStringLiteral("comparison: ") + m);
    view->generation()->run();
  }, Qt::SingleShotConnection);
  QObject::connect(view->generation(), &GenerationPanel::generationFinished, qApp,
                   [&window, dir, bundle](bool ok, const QString& m) {
                     if (!ok) return fail(QStringLiteral("generation: ") + m);
                     settle([&window, dir, bundle] {
                       if (!save(&window, dir + QStringLiteral("/evaluation.png"))) return fail(QStringLiteral("evaluation"));
                       shootExport(window, dir, bundle);
                     });
                   }, Qt::SingleShotConnection);
  view->perplexity()->run();
}

// A short real calibration (OSTQuant W4A4, 24 steps over 12 windows × 128 tokens, 4 more held out and
// measured every 4 steps) so the curves, the held-out one included, have something to show; its
// bundle then feeds the evaluation tab.
void shootCalibration(MainWindow& window, const QString& dir, const QString& data, const QString& bundle) {
  CalibrationView* view = window.calibrationView();
  window.tabs()->setCurrentWidget(view);
  static QTemporaryDir work;  // outlives the run; removed at exit
  const QString out = work.path() + QStringLiteral("/stories260K-ostquant-w4a4");
  CalibrationForm* f = view->form();
  f->setMethod(QStringLiteral("ostquant"));
  f->setBits(QStringLiteral("4-4-16"));
  f->setCalibrationFiles({data});
  f->setOutputDir(out);
  f->setSteps(24);
  f->setBatch(8, 4);
  f->setWindows(16, 128);
  f->setValidation(4, 4);
  f->setUseRtn(true);
  f->setCheckpointEvery(0);
  QObject::connect(view, &CalibrationView::runFinished, qApp, [&window, dir, data, bundle](bool ok, const QString& m) {
    if (!ok) return fail(QStringLiteral("calibration: ") + m);
    settle([&window, dir, data, bundle] {
      if (!save(&window, dir + QStringLiteral("/calibration.png"))) return fail(QStringLiteral("calibration"));
      shootEvaluation(window, dir, data, bundle);
    });
  }, Qt::SingleShotConnection);
  view->start();
  if (!view->running()) fail(QStringLiteral("calibration did not start: ") + view->invalidReason());
}

void shootTabs(MainWindow& window, const QString& dir, const QString& data, const QString& bundle) {
  window.qsurView()->setSite(QStringLiteral("ffn_input"));
  window.tabs()->setCurrentWidget(window.qsurView());
  settle([&window, dir, data, bundle] {
    if (!save(&window, dir + QStringLiteral("/qsur.png"))) return fail(QStringLiteral("qsur"));
    shootCalibration(window, dir, data, bundle);
  });
}

void shootDistributions(MainWindow& window, const QString& dir, const QString& data, const QString& bundle) {
  DistributionView* view = window.distributionView();
  window.tabs()->setCurrentWidget(view);
  settle([&window, view, dir, data, bundle] {
    if (!save(&window, dir + QStringLiteral("/model.png"))) return fail(QStringLiteral("model"));
    const char* const kPages[] = {"distributions_absmax", "distributions_histogram", "distributions_tokens",
                                  "distributions_magnitude"};
    for (int i = 0; i < 4; ++i) {
      view->pages()->setCurrentIndex(i);
      QApplication::processEvents();
      if (!save(view, dir + QStringLiteral("/%1.png").arg(QLatin1String(kPages[i])))) return fail(QLatin1String(kPages[i]));
    }
    view->pages()->setCurrentIndex(0);
    shootTabs(window, dir, data, bundle);
  });
}

}  // namespace

void start_screenshot_run(MainWindow& window, const ScreenshotOptions& o) {
  QDir().mkpath(o.dir);
  window.setInteractive(false);  // errors end the run instead of waiting on a dialog
  QTimer::singleShot(o.timeoutMs, qApp, [] { fail(QStringLiteral("timed out")); });
  QObject::connect(&window, &MainWindow::errorOccurred, qApp, [](const QString& title, const QString& message) {
    fail(title + QStringLiteral(": ") + message);
  });
  QObject::connect(&window, &MainWindow::modelShown, qApp, [&window, o] {
    if (o.data.isEmpty()) {
      // No text: the model tree alone (as before the analysis views existed).
      return settle([&window, o] { QApplication::exit(save(&window, o.dir + QStringLiteral("/model.png")) ? 0 : 1); });
    }
    AnalysisRequest r;
    r.textPath = o.data;
    r.windows = 8;
    r.compare = true;
    window.analyze(r);
  });
  QObject::connect(&window, &MainWindow::analysisShown, qApp, [&window, o] {
    const auto [layer, site] = worstSite(*window.session()->analysis());
    window.distributionView()->setTransform(QStringLiteral("rotate"));
    window.tabs()->setCurrentWidget(window.distributionView());
    QObject::connect(window.distributionView(), &DistributionView::afterShown, qApp,
                     [&window, o] { shootDistributions(window, o.dir, o.data, o.bundle); }, Qt::SingleShotConnection);
    if (!window.selectTensor(layer, site, ostq::TensorKind::kActivation)) fail(QStringLiteral("no site ") + site);
  });
  window.openModel(o.model);
}
