// SPDX-License-Identifier: Apache-2.0
// Activation and weight statistics of every decoder layer over N calibration windows, captured
// one layer at a time with LayerwiseRunner so a front end can draw layer by layer: per site
// (the linear inputs attn_input, o_proj_input, ffn_input, down_proj_input, plus key_rope and value;
// the residual sites on request) and per weight matrix (the seven linears, rows = output channels):
// per-channel and per-row absmax, a fixed-bin histogram, per-channel mean / variance / kurtosis,
// pooled moments, top-k outlier channels, a |x| magnitude sample for a 3-D view and QSUR (qsur.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/analysis/moments.h"
#include "core/analysis/qsur.h"
#include "core/model/model.h"
#include "core/util/progress.h"
#include "core/util/status.h"

namespace ostq {

class LayerwiseRunner;

// Equal-width bins over the symmetric range [−range, range]. For activations the range is the
// smallest power of two ≥ the running absmax; when a later batch exceeds it the range doubles and
// neighbouring bins merge exactly, so counting is single-pass and exact (the absmax lies in
// (range/2, range]). For weights the range is the absmax itself.
struct Histogram {
  double range = 0.0;
  std::vector<int64_t> counts;        // [bins]
  std::vector<double> edges() const;  // [bins + 1], −range … range
  int64_t total() const;
};

enum class TensorKind { kActivation, kWeight };
const char* tensor_kind_name(TensorKind k);  // "activation" | "weight"

// Statistics of one activation site or one weight matrix. "Rows" are tokens (activations, in
// window-major order: row = window·T + position) or output channels (weights, W is [out, in]);
// "channels" are the last dimension (hidden channels / input columns), the QSUR dimension d.
struct TensorStats {
  std::string name;  // site_name(...) ("attn_input", ...) or linear_name(...) ("q_proj", ...)
  TensorKind kind = TensorKind::kActivation;
  int64_t rows = 0;
  int64_t channels = 0;
  std::vector<float> channel_absmax;  // [channels] max |x| over rows
  std::vector<float> row_absmax;      // [rows] max |x| over channels
  // [channels] over rows: mean, population variance, Pearson kurtosis (Gaussian 3).
  std::vector<double> mean, variance, kurtosis;
  PooledMoments pooled;  // every value as one distribution
  Histogram histogram;
  std::vector<int64_t> topk_channels;  // channels with the largest absmax, descending
  std::vector<float> topk_values;      // their absmax
  double median_channel_absmax = 0.0;
  double outlier_ratio = 0.0;  // topk_values[0] / median_channel_absmax
  // |x| of the first sample_rows rows × sample_channels (an even stride through all channels,
  // plus the top-k channels), row-major [sample_rows, sample_channels.size()].
  int64_t sample_rows = 0;
  std::vector<int64_t> sample_channels;
  std::vector<float> magnitude_sample;
  bool has_qsur = false;
  QsurResult qsur;
};

struct LayerAnalysis {
  int64_t layer = 0;
  std::vector<TensorStats> sites;    // forward order
  std::vector<TensorStats> weights;  // q_proj, k_proj, v_proj, o_proj, gate/up/down_proj
  double capture_seconds = 0.0;      // forward + activation statistics (incl. covariance)
  double weight_seconds = 0.0;       // weight statistics (incl. covariance)
  double qsur_seconds = 0.0;         // QSUR of every site and weight of the layer
  const TensorStats* site(const std::string& name) const;    // nullptr when absent
  const TensorStats* weight(const std::string& name) const;  // nullptr when absent
};

using LayerCallback = std::function<void(const LayerAnalysis&)>;

struct CaptureOptions {
  int64_t batch = 0;               // windows per forward; 0: about 2048 tokens per forward
  int64_t histogram_bins = 128;    // even, ≥ 2
  int64_t top_k = 8;               // outlier channels reported per tensor
  int64_t sample_tokens = 128;     // rows in the magnitude sample
  int64_t sample_channels = 1024;  // at most this many strided channels (+ top-k) in the sample
  bool residual_sites = false;     // also residual_mid and residual_out
  bool weights = true;             // statistics of the seven linears of every layer
  bool qsur = true;                // QSUR per site and weight (needs the d×d covariances)
  bool fp64_products = false;      // see Note [moment precision] in moments.h
  QsurOptions qsur_options;
};

// Drives LayerwiseRunner over tokens [N, T] (int64, windows from position 0). The model and the
// tokens must outlive the capture. Not thread-safe; run it on one worker thread.
class ActivationCapture {
 public:
  ActivationCapture(const Model& model, at::Tensor tokens, CaptureOptions options = {});
  ~ActivationCapture();
  ActivationCapture(const ActivationCapture&) = delete;
  ActivationCapture& operator=(const ActivationCapture&) = delete;

  int64_t layers() const;
  int64_t next_layer() const { return next_layer_; }

  // Captures layer next_layer() over every window and advances. Progress fractions cover the
  // whole model (stage "capture"); a callback returning false gives a Cancelled status.
  Result<LayerAnalysis> capture_next(const ProgressFn& progress = {});
  // Every remaining layer; on_layer fires after each, in order.
  Result<std::vector<LayerAnalysis>> capture_all(const ProgressFn& progress = {},
                                                 const LayerCallback& on_layer = {});

 private:
  LayerAnalysis capture_layer(const ProgressFn& progress);
  const Model& model_;
  at::Tensor tokens_;
  CaptureOptions options_;
  std::unique_ptr<LayerwiseRunner> runner_;
  int64_t next_layer_ = 0;
};

// Statistics of one weight matrix w [out, in] (rows = output channels) with QSUR of its rows;
// adds the QSUR time to *qsur_seconds when given. Throws StatusError.
TensorStats weight_stats(const std::string& name, const at::Tensor& w,
                         const CaptureOptions& options, double* qsur_seconds = nullptr);

}  // namespace ostq
