// SPDX-License-Identifier: Apache-2.0
#include "core/quant/smoothquant.h"

#include <torch/types.h>

#include <algorithm>
#include <cmath>

#include "core/engine/forward.h"
#include "core/util/status.h"

namespace ostq {

namespace {

class AbsMaxHooks : public ForwardHooks {
 public:
  explicit AbsMaxHooks(NormOutputAbsMax& out) : out_(out) {}
  void on_site(int64_t layer, Site site, at::Tensor& x) override {
    if (site != Site::kAttnInput && site != Site::kFfnInput) return;
    std::vector<at::Tensor>& v = site == Site::kAttnInput ? out_.attn : out_.ffn;
    at::Tensor m = x.detach().abs().to(at::kFloat).reshape({-1, x.size(-1)}).amax(0);
    v[layer] = v[layer].defined() ? at::maximum(v[layer], m) : m;
  }

 private:
  NormOutputAbsMax& out_;
};

// s = max|X|^α / max|W|^{1−α} over the columns of the readers; clamped away from 0 so dead
// channels keep a finite, positive scale.
at::Tensor smooth_scale(const at::Tensor& act_max, const std::vector<at::Tensor>& readers, double alpha) {
  at::Tensor w_max;
  for (const at::Tensor& w : readers) {
    at::Tensor m = w.abs().to(at::kDouble).amax(0);
    w_max = w_max.defined() ? at::maximum(w_max, m) : m;
  }
  at::Tensor a = act_max.to(at::kDouble).clamp_min(1e-5);
  return (a.pow(alpha) / w_max.clamp_min(1e-5).pow(1.0 - alpha)).clamp_min(1e-5);
}

}  // namespace

NormOutputAbsMax collect_norm_output_absmax(const Model& model, const at::Tensor& tokens, int64_t batch,
                                            const ProgressFn& progress) {
  NormOutputAbsMax out;
  out.attn.resize(static_cast<size_t>(model.config.n_layers));
  out.ffn.resize(static_cast<size_t>(model.config.n_layers));
  AbsMaxHooks hooks(out);
  at::NoGradGuard no_grad;
  ForwardOptions fo;
  fo.hooks = &hooks;
  const int64_t n = tokens.size(0);
  batch = std::max<int64_t>(1, batch);
  for (int64_t b = 0; b < n; b += batch) {
    report_progress(progress, static_cast<double>(b) / n, "smoothquant statistics",
                    "window " + std::to_string(b) + "/" + std::to_string(n));
    model_forward(model, tokens.narrow(0, b, std::min(batch, n - b)), fo);
  }
  return out;
}

void add_smoothquant_scales(const Model& model, const at::Tensor& tokens, double alpha, TransformSet& t,
                            int64_t batch, const ProgressFn& progress) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) throw_invalid("SmoothQuant alpha must be in [0, 1]");
  const ModelConfig& c = model.config;
  if (t.layers.empty()) t.layers.resize(static_cast<size_t>(c.n_layers));
  for (LayerTransforms& l : t.layers) {
    l.s_attn = at::Tensor();
    l.s_ffn = at::Tensor();
  }
  // Statistics and weight maxima on the model as it will be smoothed (other transforms merged).
  std::shared_ptr<Model> base = merge_transforms(model, t);
  NormOutputAbsMax stats = collect_norm_output_absmax(*base, tokens, batch, progress);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = base->weights.layers[li];
    t.layers[li].s_attn = smooth_scale(stats.attn[li], {l.wq, l.wk, l.wv}, alpha);
    t.layers[li].s_ffn = smooth_scale(stats.ffn[li], {l.w_gate, l.w_up}, alpha);
  }
  t.notes.push_back("SmoothQuant scales, alpha " + std::to_string(alpha).substr(0, 4) + ", from " +
                    std::to_string(tokens.size(0)) + " windows");
}

}  // namespace ostq
