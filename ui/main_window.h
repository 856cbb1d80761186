// SPDX-License-Identifier: Apache-2.0
// The workbench main window: open a model, see its architecture and the per-layer tensors, export
// a quantized bundle. All numerical work runs as jobs on the one EngineWorker the window owns.
// Distributions, QSUR and calibration views come with their issue.
#pragma once

#include <QMainWindow>

#include <memory>

class EngineWorker;
class ExportDialog;
class QLabel;
class QStandardItemModel;
class QTreeView;

namespace ostq {
struct Model;
}

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  void openModel(const QString& path);
  // Opens (or raises) the export dialog, prefilled with `bundle` when given.
  ExportDialog* openExportDialog(const QString& bundle = {});
  EngineWorker* worker() const { return m_worker; }

 Q_SIGNALS:
  void modelShown();
  void modelFailed(const QString& message);

 private:
  void showModel(const std::shared_ptr<ostq::Model>& model);
  QTreeView* m_tree = nullptr;
  QStandardItemModel* m_layers = nullptr;
  QLabel* m_summary = nullptr;
  EngineWorker* m_worker = nullptr;
  quint64 m_openJob = 0;  // the latest open-model job (its failure is shown)
  ExportDialog* m_export = nullptr;
  std::shared_ptr<ostq::Model> m_model;
};
