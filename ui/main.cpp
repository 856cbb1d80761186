// SPDX-License-Identifier: Apache-2.0
// `ostq-workbench [MODEL]`: the desktop workbench.
#include <QApplication>
#include <QCommandLineParser>

#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "ui/main_window.h"
#include "ui/screenshot_run.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("OSTQ Workbench"));
  QApplication::setApplicationVersion(QStringLiteral(OSTQ_VERSION));
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Post-training quantization workbench for LLaMA-family models"));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("llama2.c checkpoint or HF model directory"));
  QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                QStringLiteral("Save PNGs of the views with MODEL loaded into DIR, then quit"),
                                QStringLiteral("DIR"));
  QCommandLineOption bundle(QStringLiteral("bundle"), QStringLiteral("With --screenshot: show the export dialog for BUNDLE"),
                            QStringLiteral("BUNDLE"));
  parser.addOption(screenshot);
  parser.addOption(bundle);
  parser.process(app);
  ostq::runtime_init();
  MainWindow window;
  window.show();
  if (parser.isSet(screenshot)) {
    if (parser.positionalArguments().isEmpty()) parser.showHelp(2);
    start_screenshot_run(window, parser.positionalArguments().first(), parser.value(screenshot), parser.value(bundle));
    return app.exec();
  }
  if (!parser.positionalArguments().isEmpty()) window.openModel(parser.positionalArguments().first());
  return app.exec();
}
