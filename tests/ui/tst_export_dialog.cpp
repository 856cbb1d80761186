// SPDX-License-Identifier: Apache-2.0
// The export dialog drives the real core through the engine worker: it plans a GGUF export of a
// stories260K RTN bundle (bits per parameter shown before writing), writes and verifies it, refuses
// W4A4 for a weight-only format with the core's message, and the main window opens the model and
// the dialog.
#include <QtTest/QtTest>

#include <filesystem>

#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/quant/quantized_io.h"
#include "core/tokenizer/tokenizer.h"
#include "test_data.h"
#include "ui/engine_worker.h"
#include "ui/export_dialog.h"
#include "ui/main_window.h"

using namespace ostq;

namespace {

// Quantizes stories260K and saves the bundle in `dir`.
void write_bundle(const std::string& model_path, const std::string& bits, const std::string& dir) {
  auto m = model_load(model_path);
  if (!m.is_ok()) qFatal("%s", m.status().to_string().c_str());
  QuantizeOptions o;
  o.method = method_spec_parse("rtn").value();
  o.config = quant_config_parse(bits, m.value()->config.head_dim).value();
  o.online_ffn_hadamard = false;
  Result<QuantizedModel> q = quantize_model(*m.value(), o);
  if (!q.is_ok()) qFatal("%s", q.status().to_string().c_str());
  quantized_model_save(q.value(), dir, tokenizer_find_for_model(model_path));
}

}  // namespace

class TestExportDialog : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void plans_writes_and_verifies_gguf() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    OSTQ_REQUIRE_SHARED(data, "data/tinystories_val.txt");
    QTemporaryDir tmp;
    const std::string bundle = ostq_test::qstr(tmp.path()) + "/rtn";
    write_bundle(model, "4-16-16", bundle);
    EngineWorker worker;
    ExportDialog dialog(&worker, {});
    QSignalSpy estimate(&dialog, &ExportDialog::estimateReady);
    dialog.setFormat(QStringLiteral("gguf"));
    dialog.setBundle(QString::fromStdString(bundle));
    QVERIFY(estimate.wait(20000));
    QTRY_VERIFY_WITH_TIMEOUT(dialog.estimateText().contains(QStringLiteral("bits per parameter")), 20000);
    QVERIFY2(!std::filesystem::exists(bundle + ".gguf"), "planning must not write");
    dialog.setVerifyData(QString::fromStdString(data), 4);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    dialog.startExport();
    QVERIFY(dialog.running());
    QVERIFY(finished.wait(60000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(dialog.logText()));
    QVERIFY(std::filesystem::exists(bundle + ".gguf"));
    QVERIFY(dialog.logText().contains(QStringLiteral("verdict: PASS")));
    QVERIFY(dialog.logText().contains(QStringLiteral("perplexity")));
  }

  void refuses_w4a4_for_a_weight_only_format() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    QTemporaryDir tmp;
    const std::string bundle = ostq_test::qstr(tmp.path()) + "/w4a4";
    write_bundle(model, "4-4-16", bundle);
    EngineWorker worker;
    ExportDialog dialog(&worker, QString::fromStdString(bundle));
    dialog.setFormat(QStringLiteral("gptq"));
    QTRY_VERIFY_WITH_TIMEOUT(dialog.estimateText().contains(QStringLiteral("cannot export")), 20000);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    dialog.startExport();
    QVERIFY(finished.wait(20000));
    QCOMPARE(finished.first().at(0).toBool(), false);
    QVERIFY(dialog.logText().contains(QStringLiteral("weight-only")));
    QVERIFY(!std::filesystem::exists(bundle + "-gptq"));
  }

  void main_window_opens_model_and_dialog() {
    OSTQ_REQUIRE_SHARED(model, "models/stories260K.bin");
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::modelShown);
    window.openModel(QString::fromStdString(model));
    QVERIFY(shown.wait(20000));
    ExportDialog* dialog = window.openExportDialog();
    QVERIFY(dialog && dialog->isVisible());
    QSignalSpy failed(&window, &MainWindow::modelFailed);
    window.openModel(QStringLiteral("/nonexistent/model.bin"));
    QVERIFY(failed.wait(20000));
    QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("/nonexistent/model.bin")));
  }
};

QTEST_MAIN(TestExportDialog)
#include "tst_export_dialog.moc"
