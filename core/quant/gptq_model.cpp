// SPDX-License-Identifier: Apache-2.0
#include "core/quant/gptq_model.h"

#include <torch/types.h>

#include <algorithm>

#include "core/engine/layerwise.h"
#include "core/util/status.h"

namespace ostq {

namespace {

// Accumulates the Hessian of the inputs of one linear group (its members share one input) at the
// first member the forward reaches, then stops the layer: nothing after it is needed.
class GroupHessianHooks : public ForwardHooks {
 public:
  GroupHessianHooks(int64_t layer, std::vector<LinearId> group, int64_t in_features)
      : layer_(layer), group_(std::move(group)), hessian_(in_features) {}
  at::Tensor linear(int64_t layer, LinearId id, const at::Tensor& x, const at::Tensor& w,
                    const at::Tensor& b) override {
    if (layer == layer_ && std::find(group_.begin(), group_.end(), id) != group_.end()) {
      hessian_.add(x);
      throw LayerwiseRunner::StopLayer{};
    }
    return at::linear(x, w, b);
  }
  const HessianAccumulator& hessian() const { return hessian_; }

 private:
  int64_t layer_;
  std::vector<LinearId> group_;
  HessianAccumulator hessian_;
};

}  // namespace

std::vector<GptqLinearReport> gptq_quantize_model(Model& model, const at::Tensor& calibration,
                                                  const GptqOptions& options, int64_t batch,
                                                  const ProgressFn& progress) {
  const ModelConfig& c = model.config;
  const std::vector<std::vector<LinearId>> groups = {
      {LinearId::kK, LinearId::kV, LinearId::kQ}, {LinearId::kO}, {LinearId::kGate, LinearId::kUp}, {LinearId::kDown}};
  at::NoGradGuard no_grad;
  LayerwiseRunner runner(model, calibration, batch);
  std::vector<GptqLinearReport> report;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    LayerWeights& l = model.weights.layers[li];
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const std::vector<LinearId>& group = groups[gi];
      report_progress(progress, (static_cast<double>(li) + static_cast<double>(gi) / groups.size()) / c.n_layers,
                      "gptq", "layer " + std::to_string(li + 1) + "/" + std::to_string(c.n_layers) + " " +
                                  linear_name(group.front()));
      GroupHessianHooks hooks(li, group, linear_weight(l, group.front()).size(1));
      runner.observe(hooks);
      if (hooks.hessian().samples() == 0) throw StatusError(Status::internal("gptq: no inputs reached " + std::string(linear_name(group.front()))));
      at::Tensor h = hooks.hessian().hessian();
      for (LinearId id : group) {
        at::Tensor& w = linear_weight(l, id);
        GptqResult r = gptq_quantize(w, h, options);
        w = r.weight.to(w.scalar_type()).contiguous();
        report.push_back({li, id, r.error, r.rtn_error, r.dead_columns, r.seconds, r.grid});
      }
    }
    ForwardHooks plain;
    runner.advance(plain);  // the next layer sees this layer's quantized outputs
  }
  report_progress(progress, 1.0, "gptq", "done");
  return report;
}

}  // namespace ostq
