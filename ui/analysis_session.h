// SPDX-License-Identifier: Apache-2.0
// The analysis state of one window: the loaded model, the calibration windows, the analysis of
// the model as loaded (the "before" snapshot, streamed layer by layer while it runs), the QSUR
// comparison across transform sets and, on request, the analysis after one transform set (the
// "after" snapshots, cached by name). Every computation and every HDF5 call is a job on the one
// EngineWorker; results arrive on the GUI thread as immutable snapshots (shared_ptr<const …>)
// that item models and views keep as long as they show them.
#pragma once

#include <QHash>
#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>

#include "core/analysis/analysis.h"

class EngineWorker;

namespace ostq {
struct Model;
}

// What "Analyze" runs (the CLI's `ostq analyze` options that matter in the GUI).
struct AnalysisRequest {
  QString textPath;       // UTF-8 calibration text, tokenized with the model's own tokenizer
  int windows = 8;        // consecutive windows from the start of the text
  int seqlen = 0;         // tokens per window; 0: min(256, model context)
  bool compare = true;    // also QSUR under every transform set (compare_transforms)
  QString learnedPath;    // optional transforms.safetensors or `ostq calibrate` output directory
  double smoothAlpha = 0.5;
};

class AnalysisSession : public QObject {
  Q_OBJECT
 public:
  using Snapshot = std::shared_ptr<const ostq::Analysis>;
  using LayerSnapshot = std::shared_ptr<const ostq::LayerAnalysis>;
  using StatsRef = std::shared_ptr<const ostq::TensorStats>;

  AnalysisSession(EngineWorker* worker, QObject* parent = nullptr);

  // A new model drops every analysis (they describe another model).
  void setModel(std::shared_ptr<ostq::Model> model);
  std::shared_ptr<ostq::Model> model() const { return m_model; }

  // Each returns the worker job id (for progress and cancel).
  quint64 analyze(const AnalysisRequest& request);
  quint64 open(const QString& path);  // a saved .ostq.h5; keeps the model only when it matches
  quint64 save(const QString& path);
  // The analysis after transform set `name` (analysis_transform_names() or "learned"): emitted
  // with transformAvailable at once when cached, else computed (latest request wins).
  quint64 requestTransform(const QString& name);

  Snapshot analysis() const { return m_analysis; }
  Snapshot transformed(const QString& name) const { return m_after.value(name); }
  bool canTransform() const;
  bool hasLearned() const { return m_learned != nullptr; }
  QString sourcePath() const { return m_sourcePath; }  // the .ostq.h5 the analysis came from
  // Transform sets offered for the after-view ("learned" when a transforms file was given).
  QStringList transformNames() const;
  // Statistics of one site / weight in the base analysis (or after `transform`); null if absent.
  StatsRef stats(int layer, const QString& name, ostq::TensorKind kind, const QString& transform = {}) const;

  // "none" → "identity", "smooth" → "smoothing", … for labels.
  static QString transformLabel(const QString& name);

 Q_SIGNALS:
  void analysisStarted();
  void layerAvailable(const LayerSnapshot& layer);  // while an analysis runs, in layer order
  void analysisAvailable(const Snapshot& analysis);
  void analysisFailed(const QString& message, bool cancelled);
  void transformAvailable(const QString& name, const Snapshot& analysis);
  void transformFailed(const QString& name, const QString& message);
  void saved(const QString& path);
  void saveFailed(const QString& message);
  void cleared();

 private:
  void clearAnalyses();
  EngineWorker* m_worker;
  std::shared_ptr<ostq::Model> m_model;
  std::shared_ptr<const at::Tensor> m_tokens;                   // [N, T] int64, read on the worker
  std::shared_ptr<const ostq::TransformSet> m_learned;          // from request.learnedPath
  Snapshot m_analysis;
  QHash<QString, Snapshot> m_after;
  QString m_sourcePath;
  double m_smoothAlpha = 0.5;
  quint64 m_analyzeJob = 0, m_openJob = 0, m_saveJob = 0, m_transformJob = 0;
  QString m_transformPending;
  quint64 m_generation = 0;  // bumps when the model or analysis changes: drops stale deliveries
};
