// SPDX-License-Identifier: Apache-2.0
// A whole-model analysis: activation and weight statistics with QSUR for every layer (capture.h)
// of a model as loaded or after a transform set, with the model's identity and the settings, plus
// the QSUR comparison across transform sets. Saved to / loaded from `.ostq.h5` (analysis_h5.h);
// shared by `ostq analyze` and the GUI.
//
// Transform sets (OSTQUANT_SPEC.md §3, §9), all merged exactly into the weights (merge_transforms)
// before the capture, so the statistics are those a quantizer would see:
//   none           the model as loaded (norm gains not folded)
//   smooth         SmoothQuant α = smooth_alpha (default 0.5) as S_attn / S_ffn (gains folded)
//   rotate         QuaRot-style random Hadamard: R_res, per-KV-head R_ov, online H_ff
//                  (gains folded)
//   rotate+smooth  the random Hadamard set, then SmoothQuant measured on the rotated model
//   learned        the TransformSet the caller passes (e.g. trained OSTQuant transforms)
// Analysis-only variants (not a quantization recipe; they show what the exact form rewards):
//   equalize, rotate+equalize   S_attn / S_ffn = per-channel standard deviation of the (rotated)
//                  norm output, i.e. smoothing that equalises the diagonal of Σ (§2.3)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/analysis/capture.h"
#include "core/model/model.h"
#include "core/quant/transforms.h"
#include "core/util/progress.h"
#include "core/util/status.h"

namespace ostq {

struct AnalysisInfo {
  // Model identity.
  std::string model_path;
  std::string model_name;
  std::string config_summary;  // ModelConfig::summary()
  std::string config_json;     // Hugging Face config.json text of the config
  std::string dtype;           // compute dtype: "fp32" | "bf16"
  int64_t n_layers = 0, dim = 0, hidden_dim = 0, parameters = 0;
  // Data and settings.
  std::string data_path;
  std::string tokenizer_path;
  int64_t windows = 0;
  int64_t seqlen = 0;
  std::string transform;  // one of analysis_transform_names() or "learned"
  uint64_t seed = 42;
  double smooth_alpha = 0.5;
  std::vector<std::string> transform_notes;
  int64_t histogram_bins = 0, top_k = 0, sample_tokens = 0;
  bool residual_sites = false;
  QsurOptions qsur;
  // Provenance.
  std::string created;  // UTC, ISO 8601
  std::string ostq_version;
  double seconds = 0.0;  // wall time of the analysis (transform + capture + QSUR)
};

// One row of the QSUR table.
struct QsurRow {
  int64_t layer = 0;
  std::string name;  // site or weight name
  TensorKind kind = TensorKind::kActivation;
  int64_t d = 0;
  int64_t samples = 0;
  double exact_root = 0.0, axis_root = 0.0;  // QSUR^(1/d)
  double log_exact = 0.0, log_axis = 0.0;    // ln QSUR
  bool rank_deficient = false;
};

// QSUR^(1/d) per site and weight for several transform sets (columns in `transforms` order).
struct QsurComparison {
  struct Row {
    int64_t layer = 0;
    std::string name;
    TensorKind kind = TensorKind::kActivation;
    int64_t d = 0;
    std::vector<double> exact_root, axis_root;  // [transforms.size()]
  };
  std::vector<std::string> transforms;
  std::vector<Row> rows;
  bool empty() const { return transforms.empty(); }
  const Row* find(int64_t layer, const std::string& name,
                  TensorKind kind = TensorKind::kActivation) const;
  int column(const std::string& transform) const;  // −1 when absent
};

struct Analysis {
  AnalysisInfo info;
  std::vector<LayerAnalysis> layers;
  QsurComparison comparison;  // empty unless requested
  // Rows for every tensor with a QSUR, layer by layer, sites then weights.
  std::vector<QsurRow> qsur_table() const;
};

struct AnalysisOptions {
  std::string transform = "none";
  uint64_t seed = 42;                     // random Hadamard signs
  double smooth_alpha = 0.5;              // SmoothQuant migration strength
  const TransformSet* learned = nullptr;  // the set for transform "learned"
  CaptureOptions capture;
  // Recorded in AnalysisInfo only.
  std::string data_path;
  std::string tokenizer_path;
};

// "none", "smooth", "rotate", "rotate+smooth" (the CLI's --transform values).
const std::vector<std::string>& analysis_transform_names();
// Those plus the analysis-only "equalize" and "rotate+equalize", and "learned".
bool analysis_transform_known(const std::string& name);

// The transform set a name stands for (identity for "none"); smoothing variants measure their
// statistics on tokens [N, T]. Throws StatusError (invalid for an unknown name or "learned"
// without a set; cancelled).
TransformSet analysis_transform_set(const Model& model, const at::Tensor& tokens,
                                    const std::string& name, const AnalysisOptions& options,
                                    const ProgressFn& progress = {});

// Identity and settings of an analysis of `model` (no computation).
AnalysisInfo analysis_info(const Model& model, const at::Tensor& tokens,
                           const AnalysisOptions& options);

// Builds the transform set, merges it, captures every layer over tokens [N, T] (on_layer fires
// after each layer, in order) and returns the result. Cancelled when progress returns false.
Result<Analysis> run_analysis(const Model& model, const at::Tensor& tokens,
                              const AnalysisOptions& options, const ProgressFn& progress = {},
                              const LayerCallback& on_layer = {});

// QSUR per site and weight under each named transform set (one capture per set, histograms and
// samples skipped). options.transform is ignored.
Result<QsurComparison> compare_transforms(const Model& model, const at::Tensor& tokens,
                                          const std::vector<std::string>& transforms,
                                          const AnalysisOptions& options,
                                          const ProgressFn& progress = {});

}  // namespace ostq
