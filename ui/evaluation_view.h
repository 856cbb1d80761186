// SPDX-License-Identifier: Apache-2.0
// The evaluation tab: perplexity of the FP model against quantized bundles (ui/perplexity_panel.h),
// the method comparison of `ostq compare` (ui/compare_panel.h) and FP-versus-quantized greedy
// generation side by side (ui/generation_panel.h). Every computation runs on the engine worker.
#pragma once

#include <QWidget>

#include <memory>

class ComparePanel;
class EngineWorker;
class GenerationPanel;
class PerplexityPanel;

namespace ostq {
struct Model;
}

class EvaluationView : public QWidget {
  Q_OBJECT
 public:
  explicit EvaluationView(EngineWorker* worker, QWidget* parent = nullptr);
  void setModel(std::shared_ptr<ostq::Model> model, const QString& path);
  // A quantized bundle to evaluate and generate with (e.g. the last calibration output).
  void addBundle(const QString& dir);
  // The evaluation text of the perplexity and comparison panels.
  void setData(const QString& textFile);

  PerplexityPanel* perplexity() const { return m_perplexity; }
  ComparePanel* comparison() const { return m_compare; }
  GenerationPanel* generation() const { return m_generation; }

 private:
  PerplexityPanel* m_perplexity;
  ComparePanel* m_compare;
  GenerationPanel* m_generation;
};
