// SPDX-License-Identifier: Apache-2.0
#include "core/analysis/analysis.h"

#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <tuple>

#include "core/engine/forward.h"
#include "core/io/hf_config.h"
#include "core/quant/smoothquant.h"

namespace ostq {

namespace {

const std::vector<std::string> kCliTransforms = {"none", "smooth", "rotate", "rotate+smooth"};

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Per layer, Σx and Σx² per channel of the two norm outputs (fp64).
class NormVarianceHooks : public ForwardHooks {
 public:
  explicit NormVarianceHooks(int64_t layers) : sums_(static_cast<size_t>(layers) * 2) {}
  void on_site(int64_t layer, Site site, at::Tensor& x) override {
    if (site != Site::kAttnInput && site != Site::kFfnInput) return;
    at::Tensor v = x.detach().reshape({-1, x.size(-1)}).to(at::kDouble);
    Sums& s = sums_[static_cast<size_t>(layer * 2 + (site == Site::kFfnInput ? 1 : 0))];
    at::Tensor s1 = v.sum(0), s2 = (v * v).sum(0);
    s.s1 = s.s1.defined() ? s.s1 + s1 : s1;
    s.s2 = s.s2.defined() ? s.s2 + s2 : s2;
    s.n += v.size(0);
  }
  // Standard deviation per channel, floored at 1e-6 of the largest (dead channels stay finite).
  at::Tensor std_dev(int64_t layer, bool ffn) const {
    const Sums& s = sums_[static_cast<size_t>(layer * 2 + (ffn ? 1 : 0))];
    const double n = static_cast<double>(s.n);
    at::Tensor var = (s.s2 / n - (s.s1 / n).pow(2)).clamp_min(0.0);
    at::Tensor sd = var.sqrt();
    return sd.clamp_min(std::max(sd.max().item<double>() * 1e-6, 1e-30));
  }

 private:
  struct Sums {
    at::Tensor s1, s2;
    int64_t n = 0;
  };
  std::vector<Sums> sums_;
};

// Analysis-only smoothing: S_attn / S_ffn = per-channel std of the norm outputs of `model` with
// t's other transforms merged, so every channel the quantizer sees has unit variance.
void add_equalizing_scales(const Model& model, const at::Tensor& tokens, TransformSet& t,
                           int64_t batch, const ProgressFn& progress) {
  const ModelConfig& c = model.config;
  if (t.layers.empty()) t.layers.resize(static_cast<size_t>(c.n_layers));
  for (LayerTransforms& l : t.layers) l.s_attn = l.s_ffn = at::Tensor();
  std::shared_ptr<Model> base = merge_transforms(model, t);
  NormVarianceHooks hooks(c.n_layers);
  at::NoGradGuard no_grad;
  ForwardOptions fo;
  fo.hooks = &hooks;
  fo.logits = LogitsMode::kLast;
  const int64_t n = tokens.size(0);
  for (int64_t b = 0; b < n; b += batch) {
    report_progress(progress, static_cast<double>(b) / n, "equalize statistics",
                    "window " + std::to_string(b + 1) + "/" + std::to_string(n));
    model_forward(*base, tokens.narrow(0, b, std::min(batch, n - b)), fo);
  }
  for (int64_t li = 0; li < c.n_layers; ++li) {
    t.layers[li].s_attn = hooks.std_dev(li, false);
    t.layers[li].s_ffn = hooks.std_dev(li, true);
  }
  t.notes.push_back("equalizing scales (per-channel std of the norm outputs), from " +
                    std::to_string(n) + " windows");
}

int64_t default_batch(const at::Tensor& tokens, int64_t batch) {
  return batch > 0 ? batch : std::max<int64_t>(1, 2048 / std::max<int64_t>(1, tokens.size(1)));
}

}  // namespace

const QsurComparison::Row* QsurComparison::find(int64_t layer, const std::string& name,
                                                TensorKind kind) const {
  for (const Row& r : rows) {
    if (r.layer == layer && r.name == name && r.kind == kind) return &r;
  }
  return nullptr;
}

int QsurComparison::column(const std::string& transform) const {
  auto it = std::find(transforms.begin(), transforms.end(), transform);
  return it == transforms.end() ? -1 : static_cast<int>(it - transforms.begin());
}

std::vector<QsurRow> Analysis::qsur_table() const {
  std::vector<QsurRow> rows;
  for (const LayerAnalysis& l : layers) {
    for (const auto* group : {&l.sites, &l.weights}) {
      for (const TensorStats& s : *group) {
        if (!s.has_qsur) continue;
        rows.push_back(QsurRow{l.layer, s.name, s.kind, s.qsur.d, s.qsur.samples, s.qsur.exact_root,
                               s.qsur.axis_root, s.qsur.log_exact, s.qsur.log_axis,
                               s.qsur.rank_deficient});
      }
    }
  }
  return rows;
}

const std::vector<std::string>& analysis_transform_names() { return kCliTransforms; }

bool analysis_transform_known(const std::string& name) {
  return std::find(kCliTransforms.begin(), kCliTransforms.end(), name) != kCliTransforms.end() ||
         name == "equalize" || name == "rotate+equalize" || name == "learned";
}

TransformSet analysis_transform_set(const Model& model, const at::Tensor& tokens,
                                    const std::string& name, const AnalysisOptions& o,
                                    const ProgressFn& progress) {
  const ModelConfig& c = model.config;
  const int64_t batch = default_batch(tokens, o.capture.batch);
  if (name == "none") return transform_set_identity(c);
  if (name == "learned") {
    if (o.learned == nullptr) throw_invalid("transform \"learned\" needs a transform set");
    return *o.learned;
  }
  const bool rotate = name.rfind("rotate", 0) == 0;
  TransformSet t =
      rotate ? transform_set_random_hadamard(c, o.seed, false) : transform_set_identity(c);
  if (name == "rotate") return t;
  if (name == "smooth" || name == "rotate+smooth") {
    add_smoothquant_scales(model, tokens, o.smooth_alpha, t, batch, progress);
    return t;
  }
  if (name == "equalize" || name == "rotate+equalize") {
    add_equalizing_scales(model, tokens, t, batch, progress);
    return t;
  }
  throw_invalid("unknown transform \"" + name + "\" (none, smooth, rotate, rotate+smooth)");
}

AnalysisInfo analysis_info(const Model& model, const at::Tensor& tokens, const AnalysisOptions& o) {
  const ModelConfig& c = model.config;
  AnalysisInfo i;
  i.model_path = model.path;
  i.model_name = c.name;
  i.config_summary = c.summary();
  i.config_json = hf_config_to_json(c, DType::kF32);
  i.dtype = model.dtype == at::kBFloat16 ? "bf16" : "fp32";
  i.n_layers = c.n_layers;
  i.dim = c.dim;
  i.hidden_dim = c.hidden_dim;
  i.parameters = c.parameter_count();
  i.data_path = o.data_path;
  i.tokenizer_path = o.tokenizer_path;
  i.windows = tokens.dim() == 2 ? tokens.size(0) : 0;
  i.seqlen = tokens.dim() == 2 ? tokens.size(1) : 0;
  i.transform = o.transform;
  i.seed = o.seed;
  i.smooth_alpha = o.smooth_alpha;
  i.histogram_bins = o.capture.histogram_bins;
  i.top_k = o.capture.top_k;
  i.sample_tokens = o.capture.sample_tokens;
  i.residual_sites = o.capture.residual_sites;
  i.qsur = o.capture.qsur_options;
  i.created = utc_now();
  i.ostq_version = OSTQ_VERSION;
  return i;
}

Result<Analysis> run_analysis(const Model& model, const at::Tensor& tokens,
                              const AnalysisOptions& o, const ProgressFn& progress,
                              const LayerCallback& on_layer) {
  return status_guard([&] {
    if (!analysis_transform_known(o.transform)) {
      throw_invalid("unknown transform \"" + o.transform +
                    "\" (none, smooth, rotate, rotate+smooth)");
    }
    auto t0 = std::chrono::steady_clock::now();
    Analysis a;
    a.info = analysis_info(model, tokens, o);
    std::shared_ptr<Model> merged;
    const Model* target = &model;
    if (o.transform != "none") {
      TransformSet t = analysis_transform_set(model, tokens, o.transform, o, progress);
      a.info.transform_notes = t.notes;
      report_progress(progress, 0.0, "merge transforms", o.transform);
      merged = merge_transforms(model, t);
      target = merged.get();
    }
    ActivationCapture capture(*target, tokens, o.capture);
    Result<std::vector<LayerAnalysis>> layers = capture.capture_all(progress, on_layer);
    if (!layers.is_ok()) throw StatusError(layers.status());
    a.layers = std::move(layers).value();
    a.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return a;
  });
}

Result<QsurComparison> compare_transforms(const Model& model, const at::Tensor& tokens,
                                          const std::vector<std::string>& transforms,
                                          const AnalysisOptions& o, const ProgressFn& progress) {
  return status_guard([&] {
    QsurComparison cmp;
    cmp.transforms = transforms;
    std::map<std::tuple<int64_t, std::string, TensorKind>, size_t> index;  // → row
    const size_t n = transforms.size();
    for (size_t k = 0; k < n; ++k) {
      AnalysisOptions ok = o;
      ok.transform = transforms[k];
      ok.capture.qsur = true;
      ok.capture.sample_tokens = 0;
      ProgressFn sub;
      if (progress) {
        sub = [&, k](const Progress& p) {
          return progress(Progress{(static_cast<double>(k) + p.fraction) / n,
                                   "compare " + transforms[k],
                                   p.stage + (p.detail.empty() ? "" : ": " + p.detail)});
        };
      }
      Result<Analysis> a = run_analysis(model, tokens, ok, sub);
      if (!a.is_ok()) throw StatusError(a.status());
      for (const QsurRow& r : a->qsur_table()) {
        auto key = std::make_tuple(r.layer, r.name, r.kind);
        auto it = index.find(key);
        if (it == index.end()) {
          QsurComparison::Row fresh;
          fresh.layer = r.layer;
          fresh.name = r.name;
          fresh.kind = r.kind;
          fresh.d = r.d;
          fresh.exact_root.assign(n, 0.0);  // 0 where a set lacks the tensor
          fresh.axis_root.assign(n, 0.0);
          it = index.emplace(key, cmp.rows.size()).first;
          cmp.rows.push_back(std::move(fresh));
        }
        cmp.rows[it->second].exact_root[k] = r.exact_root;
        cmp.rows[it->second].axis_root[k] = r.axis_root;
      }
    }
    return cmp;
  });
}

}  // namespace ostq
