// SPDX-License-Identifier: Apache-2.0
#include "ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include "core/model/model.h"
#include "ui/analysis_session.h"
#include "ui/analyze_dialog.h"
#include "ui/calibration_view.h"
#include "ui/distribution_view.h"
#include "ui/engine_worker.h"
#include "ui/evaluation_view.h"
#include "ui/export_dialog.h"
#include "ui/job_progress.h"
#include "ui/model_tree_filter.h"
#include "ui/model_tree_model.h"
#include "ui/qsur_view.h"
#include "ui/recent_files.h"

namespace {
const QString kGeometryKey = QStringLiteral("mainWindow/geometry");
const QString kStateKey = QStringLiteral("mainWindow/state");
constexpr int kWorstSites = 10;
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  m_worker = new EngineWorker(this);
  m_session = new AnalysisSession(m_worker, this);
  setWindowTitle(tr("OSTQ Workbench"));
  setAcceptDrops(true);
  setDockNestingEnabled(true);

  m_tabs = new QTabWidget(this);
  m_tabs->setDocumentMode(true);
  m_distributions = new DistributionView(m_session, m_tabs);
  m_qsur = new QsurView(m_session, m_tabs);
  m_tabs->addTab(m_distributions, tr("&Distributions"));
  m_tabs->addTab(m_qsur, tr("&QSUR"));
  m_calibration = new CalibrationView(m_worker, m_tabs);
  m_evaluation = new EvaluationView(m_worker, m_tabs);
  m_tabs->addTab(m_calibration, tr("&Calibration"));
  m_tabs->addTab(m_evaluation, tr("&Evaluation"));
  // A finished calibration is the natural next thing to evaluate.
  connect(m_calibration, &CalibrationView::runFinished, this, [this](bool ok, const QString& out) {
    if (ok) m_evaluation->addBundle(out);
  });
  setCentralWidget(m_tabs);
  buildDocks();
  buildMenus();
  m_progress = new JobProgress(m_worker, m_log, this);
  statusBar()->addPermanentWidget(m_progress);

  connect(m_worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool) {
    if (id != m_openJob) return;
    statusBar()->showMessage(tr("Load failed"), 5000);
    Q_EMIT modelFailed(message);
    showError(tr("Cannot open model"), message);
  });
  connect(m_session, &AnalysisSession::analysisAvailable, this, &MainWindow::showAnalysis);
  connect(m_session, &AnalysisSession::analysisFailed, this, [this](const QString& message, bool cancelled) {
    Q_EMIT analysisFailed(message);
    if (cancelled) statusBar()->showMessage(tr("Analysis cancelled"), 5000);
    else showError(tr("Analysis failed"), message);
  });
  connect(m_session, &AnalysisSession::saveFailed, this, [this](const QString& m) { showError(tr("Cannot save the analysis"), m); });
  connect(m_session, &AnalysisSession::saved, this, [this](const QString& path) {
    m_recent->add(path);
    statusBar()->showMessage(tr("Saved %1").arg(path), 5000);
  });
  connect(m_session, &AnalysisSession::cleared, this, [this] {
    m_treeModel->setData(m_model, nullptr);
    m_tree->expandToDepth(0);
    updateSummary();
  });
  resize(1400, 900);
  m_defaultState = saveState();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildDocks() {
  m_treeModel = new ModelTreeModel(this);
  m_treeFilter = new ModelTreeFilter(this);
  m_treeFilter->setSourceModel(m_treeModel);
  auto* panel = new QWidget(this);
  m_summary = new QLabel(tr("Open a llama2.c checkpoint or a Hugging Face model directory (File ▸ Open), "
                            "or drop one here."), panel);
  m_summary->setWordWrap(true);
  m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_filterEdit = new QLineEdit(panel);
  m_filterEdit->setPlaceholderText(tr("Filter tensors (Ctrl+F)"));
  m_filterEdit->setClearButtonEnabled(true);
  m_worstButton = new QToolButton(panel);
  m_worstButton->setText(tr("Worst %1 by QSUR").arg(kWorstSites));
  m_worstButton->setCheckable(true);
  m_worstButton->setToolTip(tr("Show only the %1 activation sites with the lowest QSUR across all layers").arg(kWorstSites));
  m_tree = new QTreeView(panel);
  m_tree->setModel(m_treeFilter);
  m_tree->setSortingEnabled(true);
  m_tree->sortByColumn(ModelTreeModel::kName, Qt::AscendingOrder);
  m_tree->setAlternatingRowColors(true);
  m_tree->setUniformRowHeights(true);
  m_tree->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  auto* filterRow = new QHBoxLayout;
  filterRow->addWidget(m_filterEdit, 1);
  filterRow->addWidget(m_worstButton);
  auto* layout = new QVBoxLayout(panel);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(m_summary);
  layout->addLayout(filterRow);
  layout->addWidget(m_tree, 1);
  auto* treeDock = new QDockWidget(tr("Model"), this);
  treeDock->setObjectName(QStringLiteral("modelDock"));
  treeDock->setWidget(panel);
  addDockWidget(Qt::LeftDockWidgetArea, treeDock);

  m_log = new QPlainTextEdit(this);
  m_log->setReadOnly(true);
  m_log->setMaximumBlockCount(5000);
  auto* logDock = new QDockWidget(tr("Log"), this);
  logDock->setObjectName(QStringLiteral("logDock"));
  logDock->setWidget(m_log);
  addDockWidget(Qt::BottomDockWidgetArea, logDock);
  resizeDocks({treeDock}, {560}, Qt::Horizontal);
  resizeDocks({logDock}, {120}, Qt::Vertical);

  connect(m_filterEdit, &QLineEdit::textChanged, this, [this](const QString& t) {
    m_treeFilter->setFilterFixedString(t);
    if (!t.isEmpty()) m_tree->expandAll();
  });
  connect(m_worstButton, &QToolButton::toggled, this, &MainWindow::setWorstSitesFilter);
  connect(m_tree->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& current) { onCurrentChanged(current); });
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &checkpoint…"), QKeySequence::Open, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open llama2.c checkpoint"), {},
                                                      tr("llama2.c checkpoints (*.bin);;All files (*)"));
    if (!path.isEmpty()) openModel(path);
  });
  file->addAction(tr("Open &directory…"), QKeySequence(tr("Ctrl+Shift+O")), this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Hugging Face model directory"));
    if (!dir.isEmpty()) openModel(dir);
  });
  m_recent = new RecentFiles(file->addMenu(tr("Open &recent")), this);
  connect(m_recent, &RecentFiles::chosen, this, &MainWindow::open);
  file->addSeparator();
  file->addAction(tr("Open &analysis…"), QKeySequence(tr("Ctrl+Alt+O")), this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open analysis"), {}, tr("OSTQ analysis (*.ostq.h5 *.h5)"));
    if (!path.isEmpty()) openAnalysis(path);
  });
  file->addAction(tr("&Save analysis…"), QKeySequence::Save, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Save analysis"), QStringLiteral("analysis.ostq.h5"),
                                                tr("OSTQ analysis (*.ostq.h5)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".h5"))) path += QStringLiteral(".ostq.h5");
    saveAnalysis(path);
  });
  file->addSeparator();
  file->addAction(tr("&Export quantized model…"), QKeySequence(tr("Ctrl+E")), this, [this] { openExportDialog(); });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* analysis = menuBar()->addMenu(tr("&Analysis"));
  analysis->addAction(tr("&Analyze…"), QKeySequence(tr("Ctrl+R")), this, [this] {
    if (!m_model) return showError(tr("Analyze"), tr("Open a model first (File ▸ Open)."));
    AnalyzeDialog dialog(int(m_model->config.max_seq_len), this);
    if (dialog.exec() == QDialog::Accepted) analyze(dialog.request());
  });
  analysis->addAction(tr("&Cancel running job"), QKeySequence(Qt::Key_Escape), this, [this] { m_progress->cancelCurrent(); });
  analysis->addSeparator();
  QAction* worst = analysis->addAction(tr("&Worst %1 sites by QSUR").arg(kWorstSites));
  worst->setShortcut(QKeySequence(tr("Ctrl+Shift+W")));
  worst->setCheckable(true);
  connect(worst, &QAction::toggled, m_worstButton, &QToolButton::setChecked);
  connect(m_worstButton, &QToolButton::toggled, worst, &QAction::setChecked);
  analysis->addAction(tr("&Filter tensors"), QKeySequence::Find, this, [this] {
    m_filterEdit->setFocus();
    m_filterEdit->selectAll();
  });

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (int i = 0; i < m_tabs->count(); ++i) {
    view->addAction(m_tabs->tabText(i).remove(QLatin1Char('&')), QKeySequence(QStringLiteral("Alt+%1").arg(i + 1)), this,
                    [this, i] { m_tabs->setCurrentIndex(i); });
  }
  view->addSeparator();
  for (QDockWidget* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());
  view->addAction(tr("&Reset layout"), this, [this] { restoreState(m_defaultState); });

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About"), this, [this] {
    QMessageBox::about(this, tr("About OSTQ Workbench"),
                       tr("<b>OSTQ Workbench %1</b><p>Post-training quantization of LLaMA-family models: "
                          "outliers layer by layer, QSUR before and after each transform set, calibration, "
                          "evaluation and export.</p>").arg(QApplication::applicationVersion()));
  });
}

void MainWindow::open(const QString& path) {
  if (path.endsWith(QLatin1String(".h5"), Qt::CaseInsensitive)) openAnalysis(path);
  else openModel(path);
}

void MainWindow::openModel(const QString& path) {
  statusBar()->showMessage(tr("Loading %1…").arg(path));
  m_openJob = m_worker->submit(tr("Open model"), QStringLiteral("open-model"), this,
                               [this, p = path.toStdString()](const ostq::ProgressFn&) -> EngineWorker::Deliver {
                                 ostq::Result<std::shared_ptr<ostq::Model>> m = ostq::model_load(p);
                                 ostq::throw_if_error(m.status());
                                 return [this, model = m.value()] { showModel(model); };
                               });
}

void MainWindow::openAnalysis(const QString& path) {
  statusBar()->showMessage(tr("Reading %1…").arg(path));
  m_session->open(path);
}

void MainWindow::saveAnalysis(const QString& path) { m_session->save(path); }

void MainWindow::analyze(const AnalysisRequest& request) {
  if (m_session->analyze(request) != 0) m_tabs->setCurrentWidget(m_qsur);  // curves grow layer by layer
}

ExportDialog* MainWindow::openExportDialog(const QString& bundle) {
  if (!m_export) m_export = new ExportDialog(m_worker, bundle, this);
  else if (!bundle.isEmpty()) m_export->setBundle(bundle);
  m_export->show();
  m_export->raise();
  return m_export;
}

void MainWindow::showModel(const std::shared_ptr<ostq::Model>& model) {
  m_model = model;
  const QString path = QString::fromStdString(model->path);
  m_session->setModel(model);  // clears the analyses: the tree shows the model alone
  m_calibration->setModel(model, path);
  m_evaluation->setModel(model, path);
  m_recent->add(path);
  setWindowTitle(tr("%1 — OSTQ Workbench").arg(QFileInfo(path).fileName()));
  statusBar()->showMessage(tr("Loaded %1").arg(path), 5000);
  m_progress->log(tr("model %1: %2").arg(path, QString::fromStdString(model->config.summary())));
  Q_EMIT modelShown();
}

void MainWindow::showAnalysis() {
  const AnalysisSession::Snapshot a = m_session->analysis();
  // The model's tensors join the tree only when the analysis describes this model.
  const bool sameModel = m_model && a && a->info.model_path == m_model->path;
  m_treeModel->setData(sameModel ? m_model : nullptr, a);
  m_tree->expandToDepth(0);
  if (!m_session->sourcePath().isEmpty()) {
    m_recent->add(m_session->sourcePath());
    setWindowTitle(tr("%1 — OSTQ Workbench").arg(QFileInfo(m_session->sourcePath()).fileName()));
  }
  updateSummary();
  statusBar()->showMessage(tr("Analysis ready"), 5000);
  Q_EMIT analysisShown();
}

void MainWindow::updateSummary() {
  QStringList lines;
  const AnalysisSession::Snapshot a = m_session->analysis();
  if (m_model) {
    lines << tr("<b>%1</b> — %2").arg(QFileInfo(QString::fromStdString(m_model->path)).fileName(),
                                     QString::fromStdString(m_model->config.summary()).toHtmlEscaped());
  }
  if (a) {
    if (!m_model || a->info.model_path != m_model->path)
      lines << tr("<b>%1</b> — %2 (analysis only)").arg(QString::fromStdString(a->info.model_name),
                                                        QString::fromStdString(a->info.config_summary).toHtmlEscaped());
    lines << tr("Analysis: %1 windows × %2 tokens of %3, %4 s")
                 .arg(a->info.windows)
                 .arg(a->info.seqlen)
                 .arg(QFileInfo(QString::fromStdString(a->info.data_path)).fileName())
                 .arg(a->info.seconds, 0, 'f', 1);
  } else if (m_model) {
    lines << tr("Analysis ▸ Analyze (Ctrl+R) adds QSUR and outlier columns.");
  }
  if (!lines.isEmpty()) m_summary->setText(lines.join(QStringLiteral("<br>")));
}

bool MainWindow::selectTensor(int layer, const QString& name, ostq::TensorKind kind) {
  const auto k = kind == ostq::TensorKind::kWeight ? ModelTreeModel::Kind::Weight : ModelTreeModel::Kind::Site;
  const QModelIndex proxy = m_treeFilter->mapFromSource(m_treeModel->find(layer, name, k));
  if (!proxy.isValid()) return false;
  m_tree->scrollTo(proxy);
  m_tree->setCurrentIndex(proxy);
  return true;
}

void MainWindow::setWorstSitesFilter(bool on) {
  if (m_worstButton->isChecked() != on) m_worstButton->setChecked(on);  // re-enters through toggled
  m_treeFilter->setWorstSites(on ? kWorstSites : 0);
  if (on) {
    m_tree->expandAll();
    m_tree->sortByColumn(ModelTreeModel::kQsur, Qt::AscendingOrder);
  }
}

void MainWindow::onCurrentChanged(const QModelIndex& proxyIndex) {
  const QModelIndex i = m_treeFilter->mapToSource(proxyIndex);
  if (!i.isValid()) return;
  const auto kind = ModelTreeModel::Kind(i.data(ModelTreeModel::KindRole).toInt());
  if (kind != ModelTreeModel::Kind::Site && kind != ModelTreeModel::Kind::Weight) return;
  const QString name = i.data(ModelTreeModel::TensorNameRole).toString();
  m_distributions->showTensor(i.data(ModelTreeModel::LayerRole).toInt(), name,
                              kind == ModelTreeModel::Kind::Site ? ostq::TensorKind::kActivation : ostq::TensorKind::kWeight);
  m_qsur->setSite(name);
}

void MainWindow::showError(const QString& title, const QString& message) {
  m_progress->log(tr("%1: %2").arg(title, message));
  Q_EMIT errorOccurred(title, message);
  if (m_interactive && isVisible()) QMessageBox::critical(this, title, message);
}

void MainWindow::saveSettings() const {
  QSettings s;
  s.setValue(kGeometryKey, saveGeometry());
  s.setValue(kStateKey, saveState());
}

bool MainWindow::restoreSettings() {
  QSettings s;
  const bool geometry = restoreGeometry(s.value(kGeometryKey).toByteArray());
  const bool state = restoreState(s.value(kStateKey).toByteArray());
  return geometry && state;
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveSettings();
  QMainWindow::closeEvent(event);
}

void MainWindow::changeEvent(QEvent* event) {
  // The system switched light / dark: re-theme the charts.
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) {
    m_distributions->applyTheme();
    m_qsur->applyTheme();
    m_calibration->applyTheme();
  }
  QMainWindow::changeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const QList<QUrl> urls = event->mimeData()->urls();
  if (!urls.isEmpty() && urls.first().isLocalFile()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QList<QUrl> urls = event->mimeData()->urls();
  if (urls.isEmpty() || !urls.first().isLocalFile()) return;
  event->acceptProposedAction();
  open(urls.first().toLocalFile());
}
