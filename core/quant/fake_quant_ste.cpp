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

SteRows ste_quantize_rows(const at::Tensor& u, const ActQuantSpec& spec) {
  const auto [qmin, qmax] = activation_levels(spec);
  SteRows r;
  r.row_min = at::amin(u, -1, true);
  r.row_max = at::amax(u, -1, true);
  std::tie(r.scale, r.zero) = activation_scale_zero(r.row_min, r.row_max, spec);
  at::Tensor codes = at::round(u / r.scale);  // the reference's round_ste value, bit for bit
  if (r.zero.defined()) codes.add_(r.zero);
  r.in_range = codes.ge(qmin).logical_and_(codes.le(qmax));
  codes.clamp_(qmin, qmax);
  if (r.zero.defined()) codes.sub_(r.zero);
  r.q = codes.mul_(r.scale);
  return r;
}

std::pair<at::Tensor, at::Tensor> scale_grad_to_extremes(const SteRows& rows, const at::Tensor& grad_scale,
                                                         const ActQuantSpec& spec) {
  at::Tensor min_leaf = rows.row_min.detach().requires_grad_(true);
  at::Tensor max_leaf = rows.row_max.detach().requires_grad_(true);
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

ActQuantSpec spec_of(int64_t bits, bool symmetric, int64_t sym_scale, double clip) {
  ActQuantSpec spec;
  spec.bits = static_cast<int>(bits);
  spec.symmetric = symmetric;
  spec.sym_scale = static_cast<SymmetricScale>(sym_scale);
  spec.clip_ratio = clip;
  return spec;
}

struct FakeQuantSte : public torch::autograd::Function<FakeQuantSte> {
  // u [R, m] → q [R, m].
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, int64_t bits, bool symmetric, int64_t sym_scale,
                            double clip) {
    const ActQuantSpec spec = spec_of(bits, symmetric, sym_scale, clip);
    SteRows r = ste_quantize_rows(u, spec);
    ctx->save_for_backward({u});
    ctx->saved_data["in_range"] = r.in_range;
    ctx->saved_data["scale"] = r.scale;
    ctx->saved_data["zero"] = r.zero.defined() ? r.zero : at::Tensor();
    ctx->saved_data["row_min"] = r.row_min;
    ctx->saved_data["row_max"] = r.row_max;
    ctx->saved_data["spec"] = std::vector<double>{static_cast<double>(bits), symmetric ? 1.0 : 0.0,
                                                  static_cast<double>(sym_scale), clip};
    return r.q;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const at::Tensor u = ctx->get_saved_variables()[0];
    const std::vector<double> sv = ctx->saved_data["spec"].toDoubleVector();
    const ActQuantSpec spec = spec_of(static_cast<int64_t>(sv[0]), sv[1] != 0.0, static_cast<int64_t>(sv[2]), sv[3]);
    SteRows r;
    r.in_range = ctx->saved_data["in_range"].toTensor();
    r.scale = ctx->saved_data["scale"].toTensor();
    r.zero = ctx->saved_data["zero"].toTensor();
    r.row_min = ctx->saved_data["row_min"].toTensor();
    r.row_max = ctx->saved_data["row_max"].toTensor();
    const at::Tensor g = grad_outputs[0];
    const auto [qmin, qmax] = activation_levels(spec);
    // q again (cheaper to recompute than to keep), then ∂q/∂s = (q − [inside]·u)/s.
    at::Tensor q = at::round(u / r.scale);
    if (r.zero.defined()) q.add_(r.zero);
    q.clamp_(qmin, qmax);
    if (r.zero.defined()) q.sub_(r.zero);
    q.mul_(r.scale);
    const at::Tensor inside = r.in_range.to(u.scalar_type());
    const at::Tensor grad_scale = (g * (q - inside * u)).sum(-1, true).div_(r.scale);
    at::Tensor du = g * inside;
    const auto [d_min, d_max] = scale_grad_to_extremes(r, grad_scale, spec);
    const std::pair<const at::Tensor*, const at::Tensor*> extremes[2] = {{&d_min, &r.row_min}, {&d_max, &r.row_max}};
    for (const auto& [grad, value] : extremes) {
      if (!grad->defined()) continue;
      const at::Tensor hit = u.eq(*value).to(u.scalar_type());
      du.add_(hit * (*grad / hit.sum(-1, true)));
    }
    return {du, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
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
  at::Tensor q = FakeQuantSte::apply(rows, spec.bits, spec.symmetric, static_cast<int64_t>(spec.sym_scale),
                                     spec.clip_ratio);
  return q.view(x.sizes()).to(x.scalar_type());
}

}  // namespace ostq
