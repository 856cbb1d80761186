// SPDX-License-Identifier: Apache-2.0
// `ostq-workbench [MODEL | ANALYSIS.ostq.h5]`: the desktop workbench.
#include <QApplication>
#include <QCommandLineParser>

#include <cstring>

#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "ui/main_window.h"
#include "ui/screenshot_run.h"

namespace {

struct Options {
  QCommandLineOption screenshot{QStringLiteral("screenshot"),
                                QStringLiteral("Save PNGs of the views with MODEL loaded into DIR, then quit"),
                                QStringLiteral("DIR")};
  QCommandLineOption data{QStringLiteral("data"),
                          QStringLiteral("With --screenshot: calibration text to analyze (else only the model view)"),
                          QStringLiteral("TEXT")};
  QCommandLineOption bundle{QStringLiteral("bundle"), QStringLiteral("With --screenshot: show the export dialog for BUNDLE"),
                            QStringLiteral("BUNDLE")};
  QCommandLineOption noRestore{QStringLiteral("no-restore"), QStringLiteral("Start with the default window layout")};
};

void describe(QCoreApplication& app, QCommandLineParser& parser, const Options& o) {
  app.setOrganizationName(QStringLiteral("OSTQ"));
  app.setApplicationName(QStringLiteral("OSTQ Workbench"));
  app.setApplicationVersion(QStringLiteral(OSTQ_VERSION));
  parser.setApplicationDescription(QStringLiteral(
      "Post-training quantization workbench for LLaMA-family models: outliers and QSUR layer by layer, "
      "before and after each transform set; calibration, evaluation and export."));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument(QStringLiteral("model"),
                               QStringLiteral("llama2.c checkpoint, HF model directory, or a saved .ostq.h5 analysis"),
                               QStringLiteral("[MODEL]"));
  parser.addOptions({o.screenshot, o.data, o.bundle, o.noRestore});
}

bool asksHelpOrVersion(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* flag : {"-h", "--help", "--help-all", "-?", "-v", "--version"})
      if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (asksHelpOrVersion(argc, argv)) {
    // Answered without a display (a headless server, an ssh session): no QApplication needed.
    QCoreApplication core(argc, argv);
    QCommandLineParser parser;
    describe(core, parser, options);
    parser.process(core);  // prints and exits
    return 0;
  }
  QApplication app(argc, argv);
  QApplication::setDesktopFileName(QStringLiteral("ostq-workbench"));
  QCommandLineParser parser;
  describe(app, parser, options);
  parser.process(app);
  ostq::runtime_init();
  MainWindow window;
  if (parser.isSet(options.screenshot)) {
    if (parser.positionalArguments().isEmpty()) parser.showHelp(2);
    window.resize(1600, 1000);
    window.show();
    start_screenshot_run(window, {parser.positionalArguments().first(), parser.value(options.screenshot),
                                  parser.value(options.data), parser.value(options.bundle)});
    return app.exec();
  }
  if (!parser.isSet(options.noRestore)) window.restoreSettings();
  window.show();
  if (!parser.positionalArguments().isEmpty()) window.open(parser.positionalArguments().first());
  return app.exec();
}
