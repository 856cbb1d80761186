// SPDX-License-Identifier: Apache-2.0
// The workbench main window (foundation version): open a model, see its architecture and the
// per-layer tensors. Distributions, QSUR, calibration and export views come with their issues.
#pragma once

#include <QMainWindow>

#include <memory>

class QLabel;
class QStandardItemModel;
class QTreeView;
class ModelLoaderJob;

namespace ostq {
struct Model;
}

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  void openModel(const QString& path);

 private:
  void showModel(const std::shared_ptr<ostq::Model>& model);
  QTreeView* m_tree = nullptr;
  QStandardItemModel* m_layers = nullptr;
  QLabel* m_summary = nullptr;
  ModelLoaderJob* m_loader = nullptr;
  std::shared_ptr<ostq::Model> m_model;
};
