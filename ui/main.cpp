// SPDX-License-Identifier: Apache-2.0
// `ostq-workbench [MODEL]`: the desktop workbench.
#include <QApplication>
#include <QCommandLineParser>

#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("OSTQ Workbench"));
  QApplication::setApplicationVersion(QStringLiteral(OSTQ_VERSION));
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Post-training quantization workbench for LLaMA-family models"));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("llama2.c checkpoint or HF model directory"));
  parser.process(app);
  ostq::runtime_init();
  MainWindow window;
  window.show();
  if (!parser.positionalArguments().isEmpty()) window.openModel(parser.positionalArguments().first());
  return app.exec();
}
