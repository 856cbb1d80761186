// SPDX-License-Identifier: Apache-2.0
// The workbench main window: a dock with the model tree (layer → sites and weights, QSUR and
// outlier columns, filter and "worst 10 sites"), a log dock, and central tabs — Distributions,
// QSUR, Calibration and Evaluation. Open a model (menu, recent files, drag and drop, command
// line), run Analyze, save / open the analysis as `.ostq.h5` (browsable without the model).
// Every long job runs on the one EngineWorker and shows in the status bar with Cancel; dock
// layout and geometry persist in QSettings.
#pragma once

#include <QMainWindow>

#include <memory>

#include "core/analysis/capture.h"

class AnalysisSession;
class CalibrationView;
class DistributionView;
class EngineWorker;
class EvaluationView;
class ExportDialog;
class JobProgress;
class ModelTreeFilter;
class ModelTreeModel;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QTabWidget;
class QToolButton;
class QTreeView;
class QsurView;
class RecentFiles;
struct AnalysisRequest;

namespace ostq {
struct Model;
}

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // A model (llama2.c file or HF directory) or, for *.h5, a saved analysis.
  void open(const QString& path);
  void openModel(const QString& path);
  void openAnalysis(const QString& path);
  void saveAnalysis(const QString& path);
  void analyze(const AnalysisRequest& request);
  // Opens (or raises) the export dialog, prefilled with `bundle` when given.
  ExportDialog* openExportDialog(const QString& bundle = {});
  // Selects a site / weight in the tree (and so in the views); false when it is not there.
  bool selectTensor(int layer, const QString& name, ostq::TensorKind kind);
  void setWorstSitesFilter(bool on);

  // Errors go to a dialog when interactive (the default) and always to errorOccurred.
  void setInteractive(bool on) { m_interactive = on; }
  void saveSettings() const;
  bool restoreSettings();

  EngineWorker* worker() const { return m_worker; }
  AnalysisSession* session() const { return m_session; }
  ModelTreeModel* treeModel() const { return m_treeModel; }
  ModelTreeFilter* treeFilter() const { return m_treeFilter; }
  QTreeView* treeView() const { return m_tree; }
  DistributionView* distributionView() const { return m_distributions; }
  QsurView* qsurView() const { return m_qsur; }
  QTabWidget* tabs() const { return m_tabs; }
  CalibrationView* calibrationView() const { return m_calibration; }
  EvaluationView* evaluationView() const { return m_evaluation; }

 Q_SIGNALS:
  void modelShown();
  void modelFailed(const QString& message);
  void analysisShown();
  void analysisFailed(const QString& message);
  void errorOccurred(const QString& title, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void changeEvent(QEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildDocks();
  void buildMenus();
  void showModel(const std::shared_ptr<ostq::Model>& model);
  void showAnalysis();
  void showError(const QString& title, const QString& message);
  void updateSummary();
  void onCurrentChanged(const QModelIndex& proxyIndex);

  EngineWorker* m_worker = nullptr;  // created first, so destroyed (joined) after the views
  AnalysisSession* m_session = nullptr;
  ModelTreeModel* m_treeModel = nullptr;
  ModelTreeFilter* m_treeFilter = nullptr;
  QTreeView* m_tree = nullptr;
  QLineEdit* m_filterEdit = nullptr;
  QToolButton* m_worstButton = nullptr;
  QLabel* m_summary = nullptr;
  QPlainTextEdit* m_log = nullptr;
  JobProgress* m_progress = nullptr;
  QTabWidget* m_tabs = nullptr;
  DistributionView* m_distributions = nullptr;
  QsurView* m_qsur = nullptr;
  CalibrationView* m_calibration = nullptr;
  EvaluationView* m_evaluation = nullptr;
  RecentFiles* m_recent = nullptr;
  ExportDialog* m_export = nullptr;
  quint64 m_openJob = 0;  // the latest open-model job (its failure is shown)
  std::shared_ptr<ostq::Model> m_model;
  QByteArray m_defaultState;
  bool m_interactive = true;
};
