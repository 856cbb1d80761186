// SPDX-License-Identifier: Apache-2.0
#include "ui/analysis_session.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QMetaObject>
#include <QPointer>

#include <algorithm>

#include "core/analysis/analysis_h5.h"
#include "core/calib/transform_io.h"
#include "core/engine/runnable_model.h"
#include "core/eval/calibration.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"
#include "core/util/status.h"
#include "ui/engine_worker.h"

namespace {

// Windows [N, T] of `text` tokenized with the model's own tokenizer (as `ostq analyze` does).
// Runs on the worker; throws StatusError naming the file.
at::Tensor tokenize_windows(const ostq::Model& model, const std::string& text, int64_t windows, int64_t seqlen) {
  const std::unique_ptr<ostq::Tokenizer> tok = ostq::tokenizer_for_model(model);
  const int64_t ctx = model.config.max_seq_len;
  if (seqlen <= 0) seqlen = std::min<int64_t>(256, ctx);
  if (seqlen > ctx) {
    ostq::throw_invalid("window of " + std::to_string(seqlen) + " tokens exceeds the model context of " +
                        std::to_string(ctx));
  }
  if (windows <= 0) ostq::throw_invalid("the number of windows must be positive");
  const std::vector<int32_t> ids = ostq::tokenize_text_file(*tok, text, ostq::TextProtocol::kPlain);
  at::Tensor w = ostq::consecutive_windows(ids, 0, static_cast<int64_t>(ids.size()), seqlen, windows);
  if (w.size(0) == 0) {
    ostq::throw_invalid(text + ": " + std::to_string(ids.size()) + " tokens, shorter than one window of " +
                        std::to_string(seqlen));
  }
  return w;
}

}  // namespace

AnalysisSession::AnalysisSession(EngineWorker* worker, QObject* parent) : QObject(parent), m_worker(worker) {
  connect(m_worker, &EngineWorker::jobFailed, this, [this](quint64 id, const QString& message, bool cancelled) {
    if (id == m_analyzeJob || id == m_openJob) Q_EMIT analysisFailed(message, cancelled);
    else if (id == m_saveJob) Q_EMIT saveFailed(message);
    else if (id == m_transformJob) Q_EMIT transformFailed(m_transformPending, message);
  });
}

QString AnalysisSession::transformLabel(const QString& name) {
  if (name == QLatin1String("none")) return tr("identity");
  if (name == QLatin1String("smooth")) return tr("smoothing");
  if (name == QLatin1String("rotate")) return tr("rotation");
  if (name == QLatin1String("rotate+smooth")) return tr("rotation+smoothing");
  if (name == QLatin1String("rotate+equalize")) return tr("rotation+equalize");
  if (name == QLatin1String("equalize")) return tr("equalize");
  return name;
}

void AnalysisSession::clearAnalyses() {
  ++m_generation;
  m_analysis.reset();
  m_after.clear();
  m_sourcePath.clear();
  Q_EMIT cleared();
}

void AnalysisSession::setModel(std::shared_ptr<ostq::Model> model) {
  m_model = std::move(model);
  m_tokens.reset();
  m_learned.reset();
  clearAnalyses();
}

bool AnalysisSession::canTransform() const {
  if (!m_model || !m_analysis) return false;
  if (m_analysis->info.model_path != m_model->path) return false;  // a saved analysis of another model
  return m_tokens || QFileInfo::exists(QString::fromStdString(m_analysis->info.data_path));
}

QStringList AnalysisSession::transformNames() const {
  QStringList names;
  for (const std::string& n : ostq::analysis_transform_names()) names << QString::fromStdString(n);
  if (m_learned) names << QStringLiteral("learned");
  return names;
}

AnalysisSession::StatsRef AnalysisSession::stats(int layer, const QString& name, ostq::TensorKind kind,
                                                 const QString& transform) const {
  const Snapshot snap = transform.isEmpty() ? m_analysis : m_after.value(transform);
  if (!snap) return {};
  for (const ostq::LayerAnalysis& l : snap->layers) {
    if (l.layer != layer) continue;
    const std::string n = name.toStdString();
    const ostq::TensorStats* s = kind == ostq::TensorKind::kActivation ? l.site(n) : l.weight(n);
    return s ? StatsRef(snap, s) : StatsRef();  // aliasing: keeps the snapshot alive
  }
  return {};
}

quint64 AnalysisSession::analyze(const AnalysisRequest& request) {
  if (!m_model) {
    Q_EMIT analysisFailed(tr("Open a model before analyzing."), false);
    return 0;
  }
  clearAnalyses();
  m_tokens.reset();
  m_smoothAlpha = request.smoothAlpha;
  const quint64 gen = m_generation;
  Q_EMIT analysisStarted();
  QPointer<AnalysisSession> self(this);
  auto model = m_model;
  m_analyzeJob = m_worker->submit(
      tr("Analyze"), QStringLiteral("analyze"), this,
      [this, self, gen, model, request](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
        const std::string text = request.textPath.toStdString();
        ostq::report_progress(progress, 0.0, "tokenize", text);
        at::Tensor windows = tokenize_windows(*model, text, request.windows, request.seqlen);
        std::shared_ptr<const ostq::TransformSet> learned;
        if (!request.learnedPath.isEmpty()) {
          std::string file = request.learnedPath.toStdString();
          if (ostq::is_directory(file)) file = ostq::path_join(file, "transforms.safetensors");
          learned = std::make_shared<const ostq::TransformSet>(ostq::load_transform_set(file, model->config));
        }
        ostq::AnalysisOptions o;
        o.smooth_alpha = request.smoothAlpha;
        o.learned = learned.get();
        o.data_path = text;
        // Each finished layer goes to the GUI at once (layer-by-layer display); a stale one is dropped.
        ostq::LayerCallback on_layer = [self, gen](const ostq::LayerAnalysis& l) {
          auto layer = std::make_shared<const ostq::LayerAnalysis>(l);
          QMetaObject::invokeMethod(
              qApp,
              [self, gen, layer] {
                if (self && self->m_generation == gen) Q_EMIT self->layerAvailable(layer);
              },
              Qt::QueuedConnection);
        };
        const double split = request.compare ? 0.5 : 1.0;
        ostq::Result<ostq::Analysis> r =
            ostq::run_analysis(*model, windows, o, ostq::progress_range(progress, 0.0, split), on_layer);
        ostq::throw_if_error(r.status());
        ostq::Analysis analysis = std::move(r).value();
        if (request.compare) {
          std::vector<std::string> sets = ostq::analysis_transform_names();
          if (learned) sets.push_back("learned");
          ostq::Result<ostq::QsurComparison> c =
              ostq::compare_transforms(*model, windows, sets, o, ostq::progress_range(progress, split, 1.0, "compare"));
          ostq::throw_if_error(c.status());
          analysis.comparison = std::move(c).value();
        }
        auto snapshot = std::make_shared<const ostq::Analysis>(std::move(analysis));
        auto tokens = std::make_shared<const at::Tensor>(windows);
        return [this, gen, snapshot, tokens, learned] {
          if (m_generation != gen) return;
          m_tokens = tokens;
          m_learned = learned;
          m_analysis = snapshot;
          m_after.insert(QStringLiteral("none"), snapshot);
          Q_EMIT analysisAvailable(snapshot);
        };
      });
  return m_analyzeJob;
}

quint64 AnalysisSession::open(const QString& path) {
  m_openJob = m_worker->submit(tr("Open analysis"), QStringLiteral("open-analysis"), this,
                               [this, path](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
                                 ostq::report_progress(progress, 0.0, "read", path.toStdString());
                                 ostq::Result<ostq::Analysis> r = ostq::analysis_load(path.toStdString());
                                 ostq::throw_if_error(r.status());
                                 auto snapshot = std::make_shared<const ostq::Analysis>(std::move(r).value());
                                 return [this, path, snapshot] {
                                   clearAnalyses();
                                   m_tokens.reset();  // re-tokenized from info.data_path if a transform is asked for
                                   m_analysis = snapshot;
                                   m_sourcePath = path;
                                   if (snapshot->info.transform == "none") m_after.insert(QStringLiteral("none"), snapshot);
                                   m_smoothAlpha = snapshot->info.smooth_alpha;
                                   Q_EMIT analysisAvailable(snapshot);
                                 };
                               });
  return m_openJob;
}

quint64 AnalysisSession::save(const QString& path) {
  const Snapshot snapshot = m_analysis;
  if (!snapshot) {
    Q_EMIT saveFailed(tr("There is no analysis to save: run Analyze or open an analysis first."));
    return 0;
  }
  // HDF5 is not thread-safe: every HDF5 call runs on the worker thread.
  m_saveJob = m_worker->submit(tr("Save analysis"), {}, this,
                               [this, path, snapshot](const ostq::ProgressFn&) -> EngineWorker::Deliver {
                                 ostq::throw_if_error(ostq::analysis_save(*snapshot, path.toStdString()));
                                 return [this, path] {
                                   m_sourcePath = path;
                                   Q_EMIT saved(path);
                                 };
                               });
  return m_saveJob;
}

quint64 AnalysisSession::requestTransform(const QString& name) {
  if (const Snapshot cached = m_after.value(name)) {
    Q_EMIT transformAvailable(name, cached);
    return 0;
  }
  if (!canTransform()) {
    Q_EMIT transformFailed(name, m_model ? tr("The calibration text of this analysis is not available.")
                                         : tr("Open the model to see it after a transform set."));
    return 0;
  }
  if (name == QLatin1String("learned") && !m_learned) {
    Q_EMIT transformFailed(name, tr("No learned transforms: pick a transforms file in Analyze."));
    return 0;
  }
  m_transformPending = name;
  const quint64 gen = m_generation;
  const ostq::AnalysisInfo info = m_analysis->info;
  m_transformJob = m_worker->submit(
      tr("Transform: %1").arg(transformLabel(name)), QStringLiteral("transform"), this,
      [this, gen, name, info, model = m_model, tokens = m_tokens, learned = m_learned,
       alpha = m_smoothAlpha](const ostq::ProgressFn& progress) -> EngineWorker::Deliver {
        at::Tensor windows = tokens ? *tokens : tokenize_windows(*model, info.data_path, info.windows, info.seqlen);
        ostq::AnalysisOptions o;
        o.transform = name.toStdString();
        o.smooth_alpha = alpha;
        o.seed = info.seed;
        o.learned = learned.get();
        o.data_path = info.data_path;
        if (info.histogram_bins > 0) o.capture.histogram_bins = info.histogram_bins;
        if (info.top_k > 0) o.capture.top_k = info.top_k;
        if (info.sample_tokens > 0) o.capture.sample_tokens = info.sample_tokens;
        o.capture.qsur = false;  // the after-view shows distributions; the comparison has the QSUR
        ostq::Result<ostq::Analysis> r = ostq::run_analysis(*model, windows, o, progress);
        ostq::throw_if_error(r.status());
        auto snapshot = std::make_shared<const ostq::Analysis>(std::move(r).value());
        auto kept = tokens ? tokens : std::make_shared<const at::Tensor>(windows);
        return [this, gen, name, snapshot, kept] {
          if (m_generation != gen) return;
          m_tokens = kept;
          m_after.insert(name, snapshot);
          Q_EMIT transformAvailable(name, snapshot);
        };
      });
  return m_transformJob;
}
