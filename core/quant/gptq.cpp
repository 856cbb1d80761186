// SPDX-License-Identifier: Apache-2.0
// GPTQ core (OSTQUANT_SPEC.md §8.2). The weight is held transposed, Wt [in, out], so that the
// column being quantized and the rows touched by the error feedback are contiguous.
#include "core/quant/gptq.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

namespace ostq {

HessianAccumulator::HessianAccumulator(int64_t in_features) : in_(in_features) {
  if (in_features <= 0) throw_invalid("HessianAccumulator: in_features must be positive");
}

// x [..., in] → H ← H·n/(n+m) + (2/(n+m))·XᵀX, with m = the number of tokens in x.
// The reference GPTQ counts sequences instead of tokens; that only rescales H, which neither
// GPTQ (relative damping) nor anything else here is sensitive to, and tokens make the
// reconstruction error a per-token mean.
void HessianAccumulator::add(const at::Tensor& x) {
  if (x.dim() == 0 || x.size(-1) != in_) {
    throw_invalid("HessianAccumulator: input last dimension must be " + std::to_string(in_));
  }
  if (!at::isFloatingType(x.scalar_type()))
    throw_invalid("HessianAccumulator: floating-point input expected");
  at::NoGradGuard no_grad;
  const at::ScalarType gemm =
      x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;  // Note [Hessian precision]
  at::Tensor rows = x.detach().reshape({-1, in_}).to(gemm);
  const int64_t m = rows.size(0);
  if (m == 0) return;
  if (!h_.defined()) h_ = at::zeros({in_, in_}, rows.options().dtype(at::kDouble));
  const int64_t total = samples_ + m;
  h_.mul_(static_cast<double>(samples_) / static_cast<double>(total));
  h_.add_(rows.t().mm(rows).to(at::kDouble), 2.0 / static_cast<double>(total));
  samples_ = total;
}

at::Tensor HessianAccumulator::hessian() const {
  return h_.defined() ? h_.clone() : at::zeros({in_, in_}, at::TensorOptions().dtype(at::kDouble));
}

double reconstruction_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& hessian) {
  if (w.dim() != 2 || !w.sizes().equals(q.sizes()) || hessian.dim() != 2 ||
      hessian.size(0) != w.size(1) || hessian.size(1) != w.size(1)) {
    throw_invalid("reconstruction_error: expected w, q [out, in] and hessian [in, in]");
  }
  at::NoGradGuard no_grad;
  at::Tensor h = hessian.detach().to(at::kDouble);
  at::Tensor d = (w.detach().to(h.device(), at::kDouble) - q.detach().to(h.device(), at::kDouble));
  return (d.mm(h) * d).sum().item<double>() / 2.0;
}

namespace {

// Upper Cholesky factor of (H + λ·mean(diag H)·I)⁻¹, fp64. Raises λ ×10 (from 1e-3 when it
// was 0) while either factorization fails (rank-deficient calibration data); throws after four
// raises.
at::Tensor damped_inverse_factor(const at::Tensor& h, double damp, GptqResult& result) {
  const double mean_diag = h.diagonal().mean().item<double>();
  for (int attempt = 0; attempt <= 4; ++attempt, damp = damp > 0 ? damp * 10.0 : 1e-3) {
    at::Tensor hd = h.clone();
    hd.diagonal().add_(damp * mean_diag);
    auto [l, info] = at::linalg_cholesky_ex(hd, /*upper=*/false, /*check_errors=*/false);
    if (info.item<int>() == 0) {
      auto [u, info_u] = at::linalg_cholesky_ex(at::cholesky_inverse(l), /*upper=*/true, false);
      if (info_u.item<int>() == 0 && at::isfinite(u).all().item<bool>()) {
        result.damp_used = damp;
        result.damp_retries = attempt;
        return u;
      }
    }
  }
  throw_invalid("gptq: the Hessian is not positive definite even with damping " +
                std::to_string(damp / 10.0) + "·mean(diag H)");
}

// One grid per group, each a per-channel grid [out, 1] (so the column loop never indexes).
std::vector<WeightQuantGrid> split_groups(const WeightQuantGrid& grid) {
  std::vector<WeightQuantGrid> out;
  for (int64_t g = 0; g < grid.scale.size(1); ++g) {
    WeightQuantGrid one = grid;
    one.group_size = 0;
    one.scale = grid.scale.narrow(1, g, 1);
    one.zero = grid.zero.narrow(1, g, 1);
    out.push_back(one);
  }
  return out;
}

// Wt rows [i, i + width) as the column-by-column loop would see them when column i is next:
// the rows past the block [b, e) still lack this block's lazy update, applied here to a copy.
// Grids of dynamic groups come from these current, error-updated weights (the reference GPTQ
// reads stale in-block columns instead; identical when groups and blocks align, e.g. 128/128).
at::Tensor current_columns(const at::Tensor& wt, const at::Tensor& hinv,
                           const at::Tensor& err_block, int64_t b, int64_t i, int64_t e,
                           int64_t width) {
  width = std::min(width, wt.size(0) - i);
  at::Tensor cols = wt.narrow(0, i, width);
  const int64_t past = i + width - e;
  if (past <= 0 || i == b) return cols;
  cols = cols.clone();
  cols.narrow(0, e - i, past)
      .addmm_(hinv.narrow(0, b, i - b).narrow(1, e, past).t(), err_block.narrow(0, 0, i - b), 1,
              -1);
  return cols;
}

// §8.2 on Wt [in, out] in place: quantize column i on its group's grid, push its scaled error
// into the rest of the block now and into the columns after the block with one GEMM (an exact
// reorganization of the column-by-column loop). perm[i]: original column of row i (act-order).
// With dynamic_groups, groups[g] is filled when its first column comes up.
void quantize_blocks(at::Tensor& wt, const at::Tensor& hinv, const std::vector<int64_t>& perm,
                     std::vector<WeightQuantGrid>& groups, const WeightQuantSpec& spec,
                     bool dynamic_groups, int64_t block_size) {
  const int64_t in = wt.size(0), out = wt.size(1), gs = spec.group_size;
  WeightQuantSpec column_spec = spec;
  column_spec.group_size = 0;
  for (int64_t b = 0; b < in; b += block_size) {
    const int64_t e = std::min(b + block_size, in), count = e - b;
    at::Tensor err_block = at::empty({count, out}, wt.options());
    for (int64_t i = b; i < e; ++i) {
      if (dynamic_groups && i % gs == 0) {
        groups[i / gs] =
            weight_quant_grid(current_columns(wt, hinv, err_block, b, i, e, gs).t(), column_spec);
      }
      const WeightQuantGrid& g = gs > 0 ? groups[perm[i] / gs] : groups[0];
      at::Tensor row = wt[i];  // [out], column i of W
      at::Tensor q = weight_quant_apply(row.unsqueeze(1), g).squeeze(1);
      at::Tensor err = (row - q) / hinv[i][i];
      if (i + 1 < e) {
        wt.narrow(0, i + 1, e - i - 1).addr_(hinv[i].narrow(0, i + 1, e - i - 1), err, 1, -1);
      }
      row.copy_(q);
      err_block[i - b].copy_(err);
    }
    if (e < in) {
      wt.narrow(0, e, in - e)
          .addmm_(hinv.narrow(0, b, count).narrow(1, e, in - e).t(), err_block, 1, -1);
    }
  }
}

// Per-group grids [out, 1] → one grid [out, n_groups].
WeightQuantGrid join_groups(const std::vector<WeightQuantGrid>& groups, int64_t group_size) {
  WeightQuantGrid grid = groups[0];
  std::vector<at::Tensor> scales, zeros;
  for (const WeightQuantGrid& g : groups) scales.push_back(g.scale), zeros.push_back(g.zero);
  grid.scale = at::cat(scales, 1);
  grid.zero = at::cat(zeros, 1);
  grid.group_size = group_size;
  return grid;
}

}  // namespace

GptqResult gptq_quantize(const at::Tensor& w, const at::Tensor& hessian,
                         const GptqOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
    throw_invalid("gptq: weight must be float [out, in]");
  const int64_t in = w.size(1);
  if (hessian.dim() != 2 || hessian.size(0) != in || hessian.size(1) != in) {
    throw_invalid("gptq: Hessian must be [" + std::to_string(in) + ", " + std::to_string(in) + "]");
  }
  if (options.block_size <= 0) throw_invalid("gptq: block size must be positive");
  at::NoGradGuard no_grad;
  const WeightQuantSpec& spec = options.spec;
  GptqResult result;
  at::Tensor h0 = hessian.detach().to(w.device(), at::kDouble);  // undamped: for the errors
  if (!at::isfinite(h0).all().item<bool>())
    throw_invalid("gptq: the Hessian has non-finite entries");
  if (!spec.enabled()) {
    result.weight = w.detach().clone();
    result.grid = weight_quant_grid(w, spec);
    return result;
  }
  const at::ScalarType type = w.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const bool grouped = spec.group_size > 0;
  const bool static_groups =
      options.static_groups || options.act_order;  // act-order: keep groups by column

  // RTN's grid; per-channel GPTQ uses it too: found once on the original weights (§8.1, as the
  // reference's find_params before the dead columns are zeroed).
  const WeightQuantGrid rtn_grid = weight_quant_grid(w, spec);
  if (!grouped) result.grid = rtn_grid;

  // Dead inputs never reach the output: H_ii = 1 keeps H invertible, the weight column goes to 0.
  at::Tensor h = h0.clone();
  at::Tensor dead = h.diagonal() == 0;
  result.dead_columns = dead.sum().item<int64_t>();
  h.diagonal().masked_fill_(dead, 1.0);
  at::Tensor wt = w.detach().to(type).t().contiguous();  // Wt [in, out]
  wt.masked_fill_(dead.unsqueeze(1), 0.0);
  if (grouped && static_groups)
    result.grid = result.dead_columns == 0 ? rtn_grid : weight_quant_grid(wt.t(), spec);

  std::vector<int64_t> perm(in);
  for (int64_t i = 0; i < in; ++i) perm[i] = i;
  at::Tensor perm_t;
  if (options.act_order) {
    perm_t = at::argsort(h.diagonal(), /*dim=*/0, /*descending=*/true);
    at::Tensor cpu = perm_t.to(at::kCPU, at::kLong).contiguous();
    perm.assign(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + in);
    wt = wt.index_select(0, perm_t);
    h = h.index_select(0, perm_t).index_select(1, perm_t);
  }

  at::Tensor hinv = damped_inverse_factor(h, options.damp, result).to(type);  // upper, [in, in]
  const bool dynamic_groups = grouped && !static_groups;
  std::vector<WeightQuantGrid> groups =
      !grouped        ? std::vector<WeightQuantGrid>{result.grid}
      : static_groups ? split_groups(result.grid)
                      : std::vector<WeightQuantGrid>((in + spec.group_size - 1) / spec.group_size);
  quantize_blocks(wt, hinv, perm, groups, spec, dynamic_groups, options.block_size);
  if (dynamic_groups) result.grid = join_groups(groups, spec.group_size);
  if (options.act_order) wt = wt.index_select(0, at::argsort(perm_t));
  result.weight = wt.t().contiguous().to(w.scalar_type());
  result.error = reconstruction_error(w, result.weight, h0);
  result.rtn_error =
      reconstruction_error(w, weight_quant_apply(w, rtn_grid), h0);  // = fake_quant_weight(w, spec)
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ostq
