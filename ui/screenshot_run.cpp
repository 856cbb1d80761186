// SPDX-License-Identifier: Apache-2.0
#include "ui/screenshot_run.h"

#include <QApplication>
#include <QDir>
#include <QPixmap>
#include <QTimer>

#include <cstdio>

#include "ui/export_dialog.h"
#include "ui/main_window.h"

namespace {

bool save(QWidget* w, const QString& path) {
  const bool ok = w->grab().save(path);
  std::fprintf(stderr, "%s %s\n", ok ? "wrote" : "FAILED to write", qPrintable(path));
  return ok;
}

}  // namespace

void start_screenshot_run(MainWindow& window, const QString& model, const QString& dir, const QString& bundle,
                          int timeout_ms) {
  QDir().mkpath(dir);
  QTimer::singleShot(timeout_ms, qApp, [] {
    std::fprintf(stderr, "screenshot run timed out\n");
    QApplication::exit(1);
  });
  QObject::connect(&window, &MainWindow::modelFailed, qApp, [](const QString& message) {
    std::fprintf(stderr, "%s\n", qPrintable(message));
    QApplication::exit(1);
  });
  QObject::connect(&window, &MainWindow::modelShown, qApp, [&window, dir, bundle] {
    // Let the layout settle before grabbing.
    QTimer::singleShot(300, qApp, [&window, dir, bundle] {
      if (!save(&window, dir + QStringLiteral("/model.png"))) return QApplication::exit(1);
      if (bundle.isEmpty()) return QApplication::exit(0);
      ExportDialog* dialog = window.openExportDialog();
      dialog->resize(760, 560);
      dialog->setFormat(QStringLiteral("gguf"));
      QObject::connect(dialog, &ExportDialog::estimateReady, qApp, [dialog, dir] {
        QTimer::singleShot(200, qApp, [dialog, dir] { QApplication::exit(save(dialog, dir + QStringLiteral("/export.png")) ? 0 : 1); });
      });
      dialog->setBundle(bundle);
    });
  });
  window.openModel(model);
}
