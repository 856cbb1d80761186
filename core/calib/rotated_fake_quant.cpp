// SPDX-License-Identifier: Apache-2.0
// See rotated_fake_quant.h and Note [tangent-equivalent gradient] there for the derivation.
#include "core/calib/rotated_fake_quant.h"

#include <torch/csrc/autograd/custom_function.h>

#include <ATen/ATen.h>

#include "core/quant/fake_quant_ste.h"
#include "core/util/status.h"

namespace ostq {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Positions (row, col) where mask is set, as two int64 vectors.
std::pair<at::Tensor, at::Tensor> positions(const at::Tensor& mask) {
  at::Tensor idx = mask.nonzero();  // [n, 2]
  return {idx.select(1, 0), idx.select(1, 1)};
}

// u at the positions (rows, cols), recomputed from a, R and σ: (a_row · R[:, col]) / σ_col.
at::Tensor u_at(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma, const at::Tensor& rows,
                const at::Tensor& cols) {
  return (a.index_select(0, rows) * r.index_select(1, cols).t()).sum(1).div_(sigma.index_select(0, cols));
}

struct RotatedFakeQuant : public torch::autograd::Function<RotatedFakeQuant> {
  // a [P, d], r [d, d], sigma [d] (ones when the caller has none) → v [P, d]. Saves e, e·Rᵀ, the
  // range mask and the positions of the row extremes (not u: its few needed entries are recomputed).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma,
                            const std::vector<double>& packed_spec) {
    const ActQuantSpec spec = unpack_act_spec(packed_spec);
    const at::Tensor u = at::matmul(a, r).div_(sigma);  // the quantizer's input (§3.4)
    const SteRows rows = ste_quantize_rows(u, spec);
    const at::Tensor e = (rows.q - u).mul_(sigma);       // (Q(u) − u)⊙σ
    const at::Tensor err_back = at::matmul(e, r.t());    // e·Rᵀ = v − a
    ctx->save_for_backward({a, r, sigma});
    ctx->saved_data["e"] = e;
    ctx->saved_data["err_back"] = err_back;
    ctx->saved_data["in_range"] = rows.in_range;
    ctx->saved_data["s"] = rows.scale;
    ctx->saved_data["row_min"] = rows.row_min;
    ctx->saved_data["row_max"] = rows.row_max;
    const at::Tensor hit_min = u.eq(rows.row_min), hit_max = u.eq(rows.row_max);
    ctx->saved_data["hit_min"] = hit_min.nonzero();
    ctx->saved_data["hit_max"] = hit_max.nonzero();
    ctx->saved_data["ties_min"] = hit_min.sum(-1, true);
    ctx->saved_data["ties_max"] = hit_max.sum(-1, true);
    ctx->saved_data["spec"] = packed_spec;
    return a + err_back;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &a = saved[0], &r = saved[1], &sigma = saved[2];
    auto get = [&](const char* key) { return ctx->saved_data[key].toTensor(); };
    const at::Tensor e = get("e"), err_back = get("err_back"), in_range = get("in_range"), s = get("s");
    const ActQuantSpec spec = unpack_act_spec(ctx->saved_data["spec"].toDoubleVector());
    const at::Tensor dv = grad_outputs[0].contiguous();  // [P, d]

    // Dense parts: dR = dvᵀ·e (its tangent-relevant term), dσ from Σ_P (dv·R)⊙(q − u) = diag(Rᵀ·M)/σ.
    const at::Tensor m = at::matmul(dv.t(), e);  // [d, d]
    at::Tensor grad_r_t = m.t().contiguous();    // dRᵀ, rows = columns of R (for index_add_ below)
    at::Tensor grad_sigma = (r * m).sum(0).div_(sigma);
    at::Tensor grad_a = dv.clone();

    // dq = (dv·R)⊙σ, needed only where the clamp is active: gathered column by column.
    auto [rows_o, cols_o] = positions(in_range.logical_not());
    const at::Tensor dq_o =
        (dv.index_select(0, rows_o) * r.index_select(1, cols_o).t()).sum(1).mul_(sigma.index_select(0, cols_o));

    // The scale's gradient per row: Σ_j dq_j·∂q_j/∂s with ∂q_j/∂s = (q_j − u_j)/s inside the range and
    // q_j/s outside: (⟨dv, e·Rᵀ⟩ + Σ_outside dq_j·u_j)/s.
    at::Tensor grad_s = (dv * err_back).sum(-1, true);
    grad_s.index_add_(0, rows_o, (dq_o * u_at(a, r, sigma, rows_o, cols_o)).unsqueeze(1));
    grad_s.div_(s);

    // ... through the scale formula to the row minimum and maximum, and to the elements that
    // attain them, split evenly among ties (as amin / amax do).
    const auto [d_min, d_max] = scale_grad_to_extremes(get("row_min"), get("row_max"), grad_s, spec);
    std::vector<at::Tensor> rows{rows_o}, cols{cols_o}, vals{dq_o.neg()};  // δ = du − dq
    const std::tuple<at::Tensor, const char*, const char*> sides[2] = {{d_min, "hit_min", "ties_min"},
                                                                       {d_max, "hit_max", "ties_max"}};
    for (const auto& [grad, hit_key, ties_key] : sides) {
      if (!grad.defined()) continue;
      const at::Tensor hit = get(hit_key);
      const at::Tensor rr = hit.select(1, 0);
      rows.push_back(rr);
      cols.push_back(hit.select(1, 1));
      vals.push_back((grad / get(ties_key)).index_select(0, rr).squeeze(1));
    }
    const at::Tensor rows_d = at::cat(rows), cols_d = at::cat(cols), delta = at::cat(vals);
    const at::Tensor w = delta / sigma.index_select(0, cols_d);  // (δ⊘σ) at its positions
    // da += (δ⊘σ)·Rᵀ; dR += aᵀ·(δ⊘σ); dσ −= Σ δ·u/σ — each a scatter of nnz rows.
    grad_a.index_add_(0, rows_d, r.index_select(1, cols_d).t() * w.unsqueeze(1));
    grad_r_t.index_add_(0, cols_d, a.index_select(0, rows_d) * w.unsqueeze(1));
    grad_sigma.index_add_(0, cols_d, -(w * u_at(a, r, sigma, rows_d, cols_d)));
    return {grad_a, grad_r_t.t(), grad_sigma, at::Tensor()};
  }
};

void check_shapes(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma) {
  const int64_t d = a.size(-1);
  if (r.dim() != 2 || r.size(0) != d || r.size(1) != d || (sigma.defined() && (sigma.dim() != 1 || sigma.size(0) != d))) {
    throw StatusError(Status::internal("rotated_fake_quant: activation [..., " + std::to_string(d) +
                                       "] needs R [d, d] and σ [d]"));
  }
}

}  // namespace

at::Tensor rotated_fake_quant(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma,
                              const ActQuantSpec& spec) {
  check_shapes(a, r, sigma);
  if (spec.group_size > 0) throw StatusError(Status::internal("rotated_fake_quant: per-token specs only"));
  if (!spec.enabled()) return a;
  const at::Tensor a2 = a.reshape({-1, a.size(-1)});
  const at::Tensor s = sigma.defined() ? sigma : at::ones({a.size(-1)}, r.options().requires_grad(false));
  at::Tensor v = RotatedFakeQuant::apply(a2, r, s, pack_act_spec(spec));
  return v.view(a.sizes());
}

at::Tensor rotated_fake_quant_reference(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma,
                                        const ActQuantSpec& spec) {
  check_shapes(a, r, sigma);
  at::Tensor u = at::matmul(a, r);
  if (sigma.defined()) u = u / sigma;
  at::Tensor q = fake_quant_activation_reference(u, spec, /*ste=*/true);
  if (sigma.defined()) q = q * sigma;
  return at::matmul(q, r.t());
}

}  // namespace ostq
