// SPDX-License-Identifier: Apache-2.0
// See fake_quant_ste.h. Backward of q = (clamp(round(u/s) + z, qmin, qmax) − z)·s with the STE:
//   ∂q_j/∂u_j = 1 inside the range, 0 outside;  ∂q_j/∂s = (q_j − [inside]·u_j)/s;
//   s = f(row_min, row_max) (activation_scale_zero), whose gradients go to the elements equal to
//   the extreme, split evenly among ties (as at::amin / at::amax do).
#include "core/quant/fake_quant_ste.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <ATen/ATen.h>

#include "core/util/status.h"

namespace ostq {

std::vector<double> pack_act_spec(const ActQuantSpec& spec) {
  return {static_cast<double>(spec.bits), spec.symmetric ? 1.0 : 0.0, static_cast<double>(spec.sym_scale),
          static_cast<double>(spec.group_size), spec.clip_ratio};
}

ActQuantSpec unpack_act_spec(const std::vector<double>& packed) {
  ActQuantSpec spec;
  spec.bits = static_cast<int>(packed.at(0));
  spec.symmetric = packed.at(1) != 0.0;
  spec.sym_scale = static_cast<SymmetricScale>(static_cast<int>(packed.at(2)));
  spec.group_size = static_cast<int64_t>(packed.at(3));
  spec.clip_ratio = packed.at(4);
  return spec;
}

namespace {

// (clamp(round(u/s) + z, qmin, qmax) − z)·s, and (when asked) whether the code was in range.
at::Tensor dequantized(const at::Tensor& u, const at::Tensor& scale, const at::Tensor& zero, const ActQuantSpec& spec,
                       at::Tensor* in_range) {
  const auto [qmin, qmax] = activation_levels(spec);
  at::Tensor codes = at::round(u / scale);  // the reference's round_ste value, bit for bit
  if (zero.defined()) codes.add_(zero);
  if (in_range != nullptr) *in_range = codes.ge(qmin).logical_and_(codes.le(qmax));
  codes.clamp_(qmin, qmax);
  if (zero.defined()) codes.sub_(zero);
  return codes.mul_(scale);
}

}  // namespace

SteRows ste_quantize_rows(const at::Tensor& u, const ActQuantSpec& spec) {
  SteRows r;
  r.row_min = at::amin(u, -1, true);
  r.row_max = at::amax(u, -1, true);
  std::tie(r.scale, r.zero) = activation_scale_zero(r.row_min, r.row_max, spec);
  r.q = dequantized(u, r.scale, r.zero, spec, &r.in_range);
  return r;
}

std::pair<at::Tensor, at::Tensor> scale_grad_to_extremes(const at::Tensor& row_min, const at::Tensor& row_max,
                                                         const at::Tensor& grad_scale, const ActQuantSpec& spec) {
  at::Tensor min_leaf = row_min.detach().requires_grad_(true);
  at::Tensor max_leaf = row_max.detach().requires_grad_(true);
  at::AutoGradMode enable(true);
  const at::Tensor s = activation_scale_zero(min_leaf, max_leaf, spec).first;
  torch::autograd::variable_list g = torch::autograd::grad({s}, {min_leaf, max_leaf}, {grad_scale},
                                                           /*retain_graph=*/false, /*create_graph=*/false,
                                                           /*allow_unused=*/true);
  return {g[0], g[1]};
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct FakeQuantSte : public torch::autograd::Function<FakeQuantSte> {
  // u [R, m] → q [R, m]; `packed` from pack_act_spec.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const std::vector<double>& packed) {
    SteRows r = ste_quantize_rows(u, unpack_act_spec(packed));
    ctx->save_for_backward({u});
    ctx->saved_data["in_range"] = r.in_range;
    ctx->saved_data["scale"] = r.scale;
    ctx->saved_data["zero"] = r.zero;
    ctx->saved_data["row_min"] = r.row_min;
    ctx->saved_data["row_max"] = r.row_max;
    ctx->saved_data["spec"] = packed;
    return r.q;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const at::Tensor u = ctx->get_saved_variables()[0];
    const ActQuantSpec spec = unpack_act_spec(ctx->saved_data["spec"].toDoubleVector());
    auto get = [&](const char* key) { return ctx->saved_data[key].toTensor(); };
    const at::Tensor in_range = get("in_range"), scale = get("scale"), row_min = get("row_min"), row_max = get("row_max");
    const at::Tensor g = grad_outputs[0];
    // q again (cheaper to recompute than to keep), then ∂q/∂s = (q − [inside]·u)/s.
    const at::Tensor q = dequantized(u, scale, get("zero"), spec, nullptr);
    const at::Tensor inside = in_range.to(u.scalar_type());
    const at::Tensor grad_scale = (g * (q - inside * u)).sum(-1, true).div_(scale);
    at::Tensor du = g * inside;
    const auto [d_min, d_max] = scale_grad_to_extremes(row_min, row_max, grad_scale, spec);
    const std::pair<const at::Tensor*, const at::Tensor*> extremes[2] = {{&d_min, &row_min}, {&d_max, &row_max}};
    for (const auto& [grad, value] : extremes) {
      if (!grad->defined()) continue;
      const at::Tensor hit = u.eq(*value).to(u.scalar_type());
      du.add_(hit * (*grad / hit.sum(-1, true)));
    }
    return {du, at::Tensor()};
  }
};

}  // namespace

at::Tensor fake_quant_activation_ste(const at::Tensor& x, const ActQuantSpec& spec) {
  if (!spec.enabled()) return x;
  const int64_t n = x.size(-1);
  const int64_t m = spec.group_size > 0 ? spec.group_size : n;
  if (n % m != 0) {
    throw_invalid("fake_quant_activation: last dimension " + std::to_string(n) + " is not a multiple of group " +
                  std::to_string(m));
  }
  const at::ScalarType type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor rows = x.to(type).reshape({-1, m});
  at::Tensor q = FakeQuantSte::apply(rows, pack_act_spec(spec));
  return q.view(x.sizes()).to(x.scalar_type());
}

}  // namespace ostq
