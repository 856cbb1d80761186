// SPDX-License-Identifier: Apache-2.0
#include "core/analysis/capture.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "core/engine/forward.h"
#include "core/engine/layerwise.h"
#include "core/engine/runtime.h"

namespace ostq {

std::vector<double> Histogram::edges() const {
  const int64_t bins = static_cast<int64_t>(counts.size());
  std::vector<double> e(static_cast<size_t>(bins + 1));
  for (int64_t i = 0; i <= bins; ++i)
    e[i] = -range + 2.0 * range * static_cast<double>(i) / static_cast<double>(bins);
  return e;
}

int64_t Histogram::total() const {
  int64_t t = 0;
  for (int64_t c : counts) t += c;
  return t;
}

const char* tensor_kind_name(TensorKind k) {
  return k == TensorKind::kWeight ? "weight" : "activation";
}

const TensorStats* LayerAnalysis::site(const std::string& name) const {
  for (const TensorStats& s : sites) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const TensorStats* LayerAnalysis::weight(const std::string& name) const {
  for (const TensorStats& s : weights) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Smallest power of two ≥ a (a > 0).
double pow2_ceil(double a) {
  int e = 0;
  const double m = std::frexp(a, &e);
  return m == 0.5 ? a : std::ldexp(1.0, e);
}

// See Histogram: single-pass, exact, with a range that only grows by doubling.
class HistogramBuilder {
 public:
  explicit HistogramBuilder(int64_t bins) : counts_(static_cast<size_t>(bins), 0) {}

  void set_range(double range) { range_ = range > 0.0 ? range : 1.0; }

  void grow_to(double absmax) {
    if (range_ == 0.0) {
      range_ = absmax > 0.0 ? pow2_ceil(absmax) : 1.0;
      return;
    }
    const int64_t bins = static_cast<int64_t>(counts_.size());
    while (absmax > range_) {
      // Old bin i = [−R + i·w, −R + (i+1)·w) lies inside new bin (bins/2 + i)/2 of width 2w.
      std::vector<int64_t> merged(counts_.size(), 0);
      for (int64_t i = 0; i < bins; ++i) merged[(bins / 2 + i) / 2] += counts_[i];
      counts_.swap(merged);
      range_ *= 2.0;
    }
  }

  // x: n fp32 values, all within [−range, range].
  void add(const float* x, int64_t n) {
    const int64_t bins = static_cast<int64_t>(counts_.size());
    const double scale = static_cast<double>(bins) / (2.0 * range_), r = range_;
    const int64_t chunks = std::clamp<int64_t>(n / 65536, 1, 16), per = (n + chunks - 1) / chunks;
    std::vector<int64_t> local(static_cast<size_t>(chunks * bins), 0);
    at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        int64_t* h = local.data() + c * bins;
        const int64_t i1 = std::min(n, (c + 1) * per);
        for (int64_t i = c * per; i < i1; ++i) {
          const double t = (static_cast<double>(x[i]) + r) * scale;
          int64_t b = t >= 0.0 ? static_cast<int64_t>(t) : 0;  // NaN lands in bin 0
          h[b < bins ? b : bins - 1] += 1;
        }
      }
    });
    for (int64_t c = 0; c < chunks; ++c) {
      for (int64_t b = 0; b < bins; ++b) counts_[b] += local[c * bins + b];
    }
  }

  Histogram result() const { return Histogram{range_, counts_}; }

 private:
  double range_ = 0.0;
  std::vector<int64_t> counts_;
};

// Streaming statistics of one tensor (rows of `channels` values).
class Collector {
 public:
  Collector(int64_t channels, const CaptureOptions& o)
      : channels_(channels),
        sample_limit_(std::max<int64_t>(0, o.sample_tokens)),
        moments_(channels, MomentsOptions{o.qsur, o.fp64_products}),
        hist_(o.histogram_bins) {}

  void fix_histogram_range(double range) { hist_.set_range(range); }

  // x [..., channels], any float dtype.
  void add(const at::Tensor& x_in) {
    at::Tensor x = x_in.detach().reshape({-1, channels_}).to(at::kFloat).contiguous();
    if (x.size(0) == 0) return;
    moments_.add(x);
    at::Tensor row_max = x.abs().amax(1).contiguous();
    const float* rp = row_max.data_ptr<float>();
    row_absmax_.insert(row_absmax_.end(), rp, rp + row_max.numel());
    hist_.grow_to(row_max.max().item<double>());
    hist_.add(x.data_ptr<float>(), x.numel());
    const int64_t have = sample_.defined() ? sample_.size(0) : 0;
    if (have < sample_limit_) {
      at::Tensor take = x.narrow(0, 0, std::min(sample_limit_ - have, x.size(0))).abs();
      sample_ = sample_.defined() ? at::cat({sample_, take}, 0) : take;
    }
  }

  TensorStats finish(const std::string& name, TensorKind kind, const CaptureOptions& o,
                     double* qsur_seconds) {
    TensorStats s;
    s.name = name;
    s.kind = kind;
    s.rows = moments_.count();
    s.channels = channels_;
    at::Tensor amax = moments_.absmax();
    s.channel_absmax =
        std::vector<float>(amax.data_ptr<float>(), amax.data_ptr<float>() + channels_);
    s.row_absmax = std::move(row_absmax_);
    auto to_vec = [](const at::Tensor& t) {
      at::Tensor c = t.contiguous();
      return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    };
    s.mean = to_vec(moments_.mean());
    s.variance = to_vec(moments_.variance());
    s.kurtosis = to_vec(moments_.kurtosis());
    s.pooled = moments_.pooled();
    s.histogram = hist_.result();
    const int64_t k = std::min<int64_t>(std::max<int64_t>(o.top_k, 0), channels_);
    auto [values, indices] = at::topk(amax, k);
    for (int64_t i = 0; i < k; ++i) {
      s.topk_channels.push_back(indices[i].item<int64_t>());
      s.topk_values.push_back(values[i].item<float>());
    }
    s.median_channel_absmax = amax.median().item<double>();
    s.outlier_ratio =
        k > 0 && s.median_channel_absmax > 0.0 ? s.topk_values[0] / s.median_channel_absmax : 0.0;
    if (sample_.defined() && sample_.size(0) > 0) {
      std::vector<int64_t> cols;
      const int64_t stride =
          (channels_ + o.sample_channels - 1) / std::max<int64_t>(1, o.sample_channels);
      for (int64_t j = 0; j < channels_; j += std::max<int64_t>(1, stride)) cols.push_back(j);
      cols.insert(cols.end(), s.topk_channels.begin(), s.topk_channels.end());
      std::sort(cols.begin(), cols.end());
      cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
      at::Tensor idx = at::tensor(cols, at::kLong);
      at::Tensor m = sample_.index_select(1, idx).contiguous();
      s.sample_rows = m.size(0);
      s.sample_channels = std::move(cols);
      s.magnitude_sample = std::vector<float>(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
    }
    if (o.qsur && s.rows > 0) {
      auto t0 = std::chrono::steady_clock::now();
      s.qsur = qsur_from_moments(moments_.mean(), moments_.covariance(), s.rows, o.qsur_options);
      s.has_qsur = true;
      if (qsur_seconds != nullptr) *qsur_seconds += seconds_since(t0);
    }
    return s;
  }

 private:
  int64_t channels_;
  int64_t sample_limit_;
  MomentAccumulator moments_;
  HistogramBuilder hist_;
  std::vector<float> row_absmax_;
  at::Tensor sample_;  // fp32 |x| [≤ sample_limit, channels]
};

int64_t site_channels(const ModelConfig& c, Site site) {
  switch (site) {
    case Site::kKeyRope:
    case Site::kValue:
      return c.kv_dim();
    case Site::kOProjInput:
      return c.q_dim();
    case Site::kDownProjInput:
      return c.hidden_dim;
    default:
      return c.dim;
  }
}

class CaptureHooks : public ForwardHooks {
 public:
  CaptureHooks(std::array<std::unique_ptr<Collector>, kSiteCount>& collectors,
               const ProgressFn& progress, int64_t layer, int64_t layers, int64_t windows)
      : collectors_(collectors),
        progress_(progress),
        layer_(layer),
        layers_(layers),
        windows_(windows) {}

  void on_site(int64_t, Site site, at::Tensor& x) override {
    if (site == Site::kAttnInput) {
      const double f =
          (static_cast<double>(layer_) + static_cast<double>(done_) / windows_) / layers_;
      report_progress(progress_, f, "capture",
                      "layer " + std::to_string(layer_ + 1) + "/" + std::to_string(layers_) +
                          ", window " + std::to_string(done_ + 1) + "/" + std::to_string(windows_));
      done_ += x.size(0);
    }
    std::unique_ptr<Collector>& c = collectors_[static_cast<size_t>(site)];
    if (c) c->add(x);
  }

 private:
  std::array<std::unique_ptr<Collector>, kSiteCount>& collectors_;
  const ProgressFn& progress_;
  int64_t layer_, layers_, windows_, done_ = 0;
};

}  // namespace

TensorStats weight_stats(const std::string& name, const at::Tensor& w,
                         const CaptureOptions& options, double* qsur_seconds) {
  at::NoGradGuard no_grad;
  if (w.dim() != 2)
    throw StatusError(Status::internal("weight_stats: expected a matrix for " + name));
  CaptureOptions o = options;
  Collector c(w.size(1), o);
  c.fix_histogram_range(w.abs().max().item<double>());
  c.add(w);
  return c.finish(name, TensorKind::kWeight, o, qsur_seconds);
}

ActivationCapture::ActivationCapture(const Model& model, at::Tensor tokens, CaptureOptions options)
    : model_(model), tokens_(std::move(tokens)), options_(std::move(options)) {}

ActivationCapture::~ActivationCapture() = default;

int64_t ActivationCapture::layers() const { return model_.config.n_layers; }

LayerAnalysis ActivationCapture::capture_layer(const ProgressFn& progress) {
  const ModelConfig& c = model_.config;
  if (next_layer_ >= c.n_layers) throw_invalid("activation capture: every layer has been captured");
  if (options_.histogram_bins < 2 || options_.histogram_bins % 2 != 0) {
    throw_invalid("histogram bins must be even and at least 2");
  }
  at::NoGradGuard no_grad;
  BlasThreadsForModel blas_threads(c.dim, c.hidden_dim);
  if (!runner_) {
    if (tokens_.dim() != 2 || tokens_.size(0) == 0 || tokens_.size(1) == 0) {
      throw_invalid("activation capture: expected windows [N, T] with N, T > 0");
    }
    int64_t batch =
        options_.batch > 0 ? options_.batch : std::max<int64_t>(1, 2048 / tokens_.size(1));
    runner_ = std::make_unique<LayerwiseRunner>(model_, tokens_.to(at::kLong), batch);
  }
  const int64_t li = next_layer_;
  LayerAnalysis out;
  out.layer = li;

  auto t0 = std::chrono::steady_clock::now();
  std::array<std::unique_ptr<Collector>, kSiteCount> collectors;
  for (int s = 0; s < kSiteCount; ++s) {
    const Site site = static_cast<Site>(s);
    if (!options_.residual_sites && (site == Site::kResidualMid || site == Site::kResidualOut))
      continue;
    collectors[s] = std::make_unique<Collector>(site_channels(c, site), options_);
  }
  CaptureHooks hooks(collectors, progress, li, c.n_layers, runner_->windows());
  // The last layer's outputs feed nothing: observe instead of keeping them.
  next_layer_ = -1;  // a failure part-way leaves the runner inconsistent: no further capture
  if (li + 1 < c.n_layers) {
    runner_->advance(hooks);
  } else {
    runner_->observe(hooks);
  }
  out.capture_seconds = seconds_since(t0);
  for (int s = 0; s < kSiteCount; ++s) {
    if (!collectors[s]) continue;
    out.sites.push_back(collectors[s]->finish(
        site_name(static_cast<Site>(s)), TensorKind::kActivation, options_, &out.qsur_seconds));
    collectors[s].reset();
  }
  if (options_.weights) {
    report_progress(
        progress, (li + 1.0) / c.n_layers, "capture",
        "layer " + std::to_string(li + 1) + "/" + std::to_string(c.n_layers) + ", weights");
    auto tw = std::chrono::steady_clock::now();
    double weight_qsur = 0.0;
    const LayerWeights& l = model_.weights.layers[li];
    for (LinearId id : kLinearIds)
      out.weights.push_back(weight_stats(linear_name(id), linear_weight(l, id), options_, &weight_qsur));
    out.weight_seconds = seconds_since(tw) - weight_qsur;
    out.qsur_seconds += weight_qsur;
  }
  next_layer_ = li + 1;
  return out;
}

Result<LayerAnalysis> ActivationCapture::capture_next(const ProgressFn& progress) {
  if (next_layer_ < 0)
    return Status::internal("activation capture: a previous layer failed or was cancelled");
  return status_guard([&] { return capture_layer(progress); });
}

Result<std::vector<LayerAnalysis>> ActivationCapture::capture_all(const ProgressFn& progress,
                                                                  const LayerCallback& on_layer) {
  if (next_layer_ < 0)
    return Status::internal("activation capture: a previous layer failed or was cancelled");
  return status_guard([&] {
    std::vector<LayerAnalysis> layers;
    while (next_layer_ < model_.config.n_layers) {
      layers.push_back(capture_layer(progress));
      if (on_layer) on_layer(layers.back());
    }
    report_progress(progress, 1.0, "capture", "done");
    return layers;
  });
}

}  // namespace ostq
