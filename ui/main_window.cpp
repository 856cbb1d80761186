// SPDX-License-Identifier: Apache-2.0
#include "ui/main_window.h"

#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QTreeView>
#include <QVBoxLayout>

#include "core/model/model.h"
#include "ui/engine_worker.h"
#include "ui/export_dialog.h"

namespace {

QString shape_text(const at::Tensor& t) {
  QStringList dims;
  for (auto s : t.sizes()) dims << QString::number(s);
  return QLatin1Char('[') + dims.join(QStringLiteral(" x ")) + QLatin1Char(']');
}

QList<QStandardItem*> tensor_row(const QString& name, const at::Tensor& t) {
  return {new QStandardItem(name), new QStandardItem(shape_text(t)),
          new QStandardItem(QString::fromLatin1(c10::toString(t.scalar_type()))),
          new QStandardItem(QString::number(t.numel()))};
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("OSTQ Workbench"));
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  m_summary = new QLabel(tr("Open a llama2.c checkpoint or a Hugging Face model directory (File ▸ Open)."), central);
  m_summary->setWordWrap(true);
  m_layers = new QStandardItemModel(this);
  m_layers->setHorizontalHeaderLabels({tr("Tensor"), tr("Shape"), tr("Dtype"), tr("Parameters")});
  m_tree = new QTreeView(central);
  m_tree->setModel(m_layers);
  m_tree->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  layout->addWidget(m_summary);
  layout->addWidget(m_tree);
  setCentralWidget(central);

  m_worker = new EngineWorker(this);
  connect(m_worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool) {
    if (id != m_openJob) return;
    statusBar()->showMessage(tr("Load failed"));
    Q_EMIT modelFailed(message);
    if (isVisible()) QMessageBox::critical(this, tr("Cannot open model"), message);
  });

  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &checkpoint…"), QKeySequence::Open, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open llama2.c checkpoint"));
    if (!path.isEmpty()) openModel(path);
  });
  file->addAction(tr("Open &directory…"), this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Hugging Face model directory"));
    if (!dir.isEmpty()) openModel(dir);
  });
  file->addAction(tr("&Export quantized model…"), QKeySequence(tr("Ctrl+E")), this, [this] { openExportDialog(); });
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  resize(1000, 700);
}

void MainWindow::openModel(const QString& path) {
  statusBar()->showMessage(tr("Loading %1…").arg(path));
  m_openJob = m_worker->submit(tr("Open model"), QStringLiteral("open-model"), this,
                                      [this, p = path.toStdString()](const ostq::ProgressFn&) -> EngineWorker::Deliver {
                                        ostq::Result<std::shared_ptr<ostq::Model>> m = ostq::model_load(p);
                                        if (!m.is_ok()) throw ostq::StatusError(m.status());
                                        return [this, model = m.value()] { showModel(model); };
                                      });
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
  const ostq::ModelConfig& c = model->config;
  m_summary->setText(tr("%1 — %2 — %3 parameters")
                         .arg(QString::fromStdString(model->path), QString::fromStdString(c.summary()))
                         .arg(c.parameter_count()));
  m_layers->removeRows(0, m_layers->rowCount());
  const ostq::ModelWeights& w = model->weights;
  m_layers->appendRow(tensor_row(QStringLiteral("embedding"), w.embedding));
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const ostq::LayerWeights& l = w.layers[i];
    auto* layer = new QStandardItem(tr("layer %1").arg(i));
    const std::pair<const char*, const at::Tensor*> tensors[] = {
        {"attn_norm", &l.attn_norm}, {"q_proj", &l.wq},       {"k_proj", &l.wk},   {"v_proj", &l.wv},
        {"o_proj", &l.wo},           {"ffn_norm", &l.ffn_norm}, {"gate_proj", &l.w_gate},
        {"up_proj", &l.w_up},        {"down_proj", &l.w_down}};
    for (const auto& [name, t] : tensors) layer->appendRow(tensor_row(QString::fromLatin1(name), *t));
    m_layers->appendRow({layer, new QStandardItem(), new QStandardItem(), new QStandardItem()});
  }
  m_layers->appendRow(tensor_row(QStringLiteral("final_norm"), w.final_norm));
  if (!w.lm_head.is_same(w.embedding)) m_layers->appendRow(tensor_row(QStringLiteral("lm_head"), w.lm_head));
  statusBar()->showMessage(tr("Loaded %1").arg(QString::fromStdString(model->path)));
  Q_EMIT modelShown();
}
