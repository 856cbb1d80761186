// SPDX-License-Identifier: Apache-2.0
// Reference fake quantizers of OSTQUANT_SPEC.md §7.1 / §8.1. Everything is vectorized over rows
// (tokens, output channels, groups); the only loop is the weight MSE clip sweep over its
// candidates. Note [ranges include zero]: every range is widened to contain 0 (xmin ≤ 0 ≤ xmax,
// xmax ≥ 1e-6), so an all-zero row gets a tiny positive scale instead of NaN, 0 always maps to
// an exact code, and zero padding of a partial weight group changes neither scales nor errors.
#include "core/quant/quantizer.h"

#include "core/quant/fake_quant_ste.h"

#include "kernels/cpu/fake_quant.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

namespace ostq {
namespace {

// §7.1: xmax = max(xmax, 1e-6), s = max(xmax − xmin, 1e-6)/qmax.
constexpr double kRangeFloor = 1e-6;

struct Levels {
  double qmin, qmax;
};

Levels levels(int bits, bool symmetric) {
  if (bits < 1 || bits > 15)
    throw_invalid("quantizer: bits must be in [1, 16], got " + std::to_string(bits));
  if (symmetric) {
    if (bits < 2) throw_invalid("quantizer: symmetric quantization needs at least 2 bits");
    return {-std::ldexp(1.0, bits - 1), std::ldexp(1.0, bits - 1) - 1.0};
  }
  return {0.0, std::ldexp(1.0, bits) - 1.0};
}

// fp32, or fp64 for fp64 input (§7.1: "arithmetic in fp32").
at::ScalarType compute_type(const at::Tensor& x) {
  if (!at::isFloatingType(x.scalar_type()))
    throw_invalid("quantizer: floating-point tensor expected");
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// round(x) in value; identity in gradient when ste (value bit-identical to round(x): r − x is
// exact since r and x are within a factor of two or r = 0, so x + (r − x) rounds back to r).
at::Tensor round_maybe_ste(const at::Tensor& x, bool ste) {
  if (!ste) return at::round(x);
  return x + (at::round(x) - x).detach();
}

// Scale (and zero point) of rows whose ranges are xmin ≤ 0 < xmax, already clipped.
// All tensors broadcastable; returns {s, z}, z undefined (meaning 0) for symmetric.
std::pair<at::Tensor, at::Tensor> scale_zero(const at::Tensor& xmin, const at::Tensor& xmax,
                                             bool symmetric, SymmetricScale sym_scale,
                                             const Levels& lv) {
  if (symmetric) {
    at::Tensor s = sym_scale == SymmetricScale::kAbsMax
                       ? at::maximum(-xmin, xmax) / lv.qmax
                       : at::maximum(xmin / lv.qmin, xmax / lv.qmax);
    return {s, at::Tensor()};
  }
  at::Tensor s = at::clamp_min(xmax - xmin, kRangeFloor) / lv.qmax;
  // The zero point carries no gradient (§7.1: "effectively constant").
  at::Tensor z = at::round(-xmin.detach() / s.detach());
  return {s, z};
}

// (clamp(round(x/s) + z, qmin, qmax) − z)·s with broadcastable s, z (undefined z: 0, which
// skips two passes and is bit-identical). In place on the fresh x/s unless ste needs a graph;
// this is the inner loop of the MSE search.
at::Tensor quant_dequant(const at::Tensor& x, const at::Tensor& s, const at::Tensor& z,
                         const Levels& lv, bool ste) {
  if (ste) {
    at::Tensor codes = round_maybe_ste(x / s, true);
    if (z.defined()) codes = codes + z;
    codes = at::clamp(codes, lv.qmin, lv.qmax);
    return (z.defined() ? codes - z : codes) * s;
  }
  at::Tensor q = (x / s).round_();
  if (z.defined()) q.add_(z);
  q.clamp_(lv.qmin, lv.qmax);
  if (z.defined()) q.sub_(z);
  return q.mul_(s);
}

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// x [R, n] in a compute dtype → per-row ranges [R, 1] per Note [ranges include zero].
// amin/amax rather than min/max(dim): no indices, and no parallel region for small rows
// (min(dim) measured 1 ms vs 2 µs on [48, 96] with 2 busy threads).
std::pair<at::Tensor, at::Tensor> row_ranges(const at::Tensor& x) {
  at::Tensor xmin = at::clamp_max(at::amin(x, -1, true), 0.0);
  at::Tensor xmax = at::clamp_min(at::amax(x, -1, true), kRangeFloor);
  return {xmin, xmax};
}

// w [out, in] fp32 → [out·G, gs] with zero padding of a partial last group (exact, see Note).
at::Tensor to_group_rows(const at::Tensor& w, int64_t group_size) {
  if (group_size <= 0) return w;
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t groups = (in + group_size - 1) / group_size;
  at::Tensor padded =
      groups * group_size == in ? w : at::constant_pad_nd(w, {0, groups * group_size - in});
  return padded.reshape({out * groups, group_size});
}

// Grid columns [out, k] for the columns first_col … first_col+k-1 of the full matrix; the zero
// point is undefined (0) for symmetric grids, see quant_dequant.
std::pair<at::Tensor, at::Tensor> grid_columns(const WeightQuantGrid& grid, int64_t first_col,
                                               int64_t k, at::ScalarType type) {
  at::Tensor s = grid.scale.to(type), z = grid.symmetric ? at::Tensor() : grid.zero.to(type);
  if (grid.group_size <= 0) return {s, z};  // [out, 1] broadcasts
  at::Tensor idx = at::div(at::arange(first_col, first_col + k, s.options().dtype(at::kLong)),
                           grid.group_size, "floor");
  return {s.index_select(1, idx), z.defined() ? z.index_select(1, idx) : z};
}

void check_weight(const at::Tensor& w, const char* what) {
  if (w.dim() != 2) throw_invalid(std::string(what) + ": weight must be 2-D [out, in]");
  if (!at::isFloatingType(w.scalar_type()))
    throw_invalid(std::string(what) + ": floating-point weight expected");
}

// Rows [R, gs] fp32 → best scale / zero [R, 1] over the clip candidates (one candidate without
// mse_clip). Ties keep the larger p (strict <), so the search is never worse than p = 1.
std::pair<at::Tensor, at::Tensor> search_rows(const at::Tensor& x, const WeightQuantSpec& spec,
                                              const Levels& lv) {
  auto [xmin, xmax] = row_ranges(x);
  const int64_t candidates =
      spec.mse_clip
          ? std::max<int64_t>(1, static_cast<int64_t>(spec.mse_max_shrink * spec.mse_grid))
          : 1;
  at::Tensor best_s, best_z, best_err;
  for (int64_t i = 0; i < candidates; ++i) {
    const double p = 1.0 - static_cast<double>(i) / spec.mse_grid;
    auto [s, z] = scale_zero(xmin * p, xmax * p, spec.symmetric, spec.sym_scale, lv);
    if (candidates == 1) return {s, z};
    at::Tensor err =
        quant_dequant(x, s, z, lv, false).sub_(x).abs_().pow_(spec.mse_norm).sum(-1, true);
    if (i == 0) {
      best_s = s, best_z = z, best_err = err;
      continue;
    }
    at::Tensor better = err < best_err;
    best_s = at::where(better, s, best_s);
    if (z.defined()) best_z = at::where(better, z, best_z);
    best_err = at::where(better, err, best_err);
  }
  return {best_s, best_z};
}

}  // namespace

std::string ActQuantSpec::describe() const {
  if (!enabled()) return "A16";
  std::string s = "A" + std::to_string(bits) + (symmetric ? " sym" : " asym");
  if (symmetric && sym_scale == SymmetricScale::kAbsMax) s += " absmax";
  s += group_size > 0 ? " group " + std::to_string(group_size) : " per-token";
  if (clip_ratio != 1.0) s += " clip " + fixed2(clip_ratio);
  return s;
}

std::string WeightQuantSpec::describe() const {
  if (!enabled()) return "W16";
  std::string s = "W" + std::to_string(bits) + (symmetric ? " sym" : " asym");
  if (symmetric && sym_scale == SymmetricScale::kAbsMax) s += " absmax";
  s += group_size > 0 ? " group " + std::to_string(group_size) : " per-channel";
  if (mse_clip) s += " mse(" + shortest(mse_norm) + ")";
  return s;
}

int64_t WeightQuantGrid::qmin() const { return symmetric ? -(int64_t{1} << (bits - 1)) : 0; }
int64_t WeightQuantGrid::qmax() const {
  return symmetric ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
}

// x [..., n] → same shape and dtype. Groups split the last dimension: [..., n/gs, gs].
namespace {

// What both implementations require: valid bits, at least one dimension, groups dividing it.
Levels check_activation_input(const at::Tensor& x, const ActQuantSpec& spec) {
  const Levels lv = levels(spec.bits, spec.symmetric);
  if (x.dim() == 0) throw_invalid("fake_quant_activation: tensor with at least one dimension expected");
  const int64_t n = x.size(-1);
  if (spec.group_size > 0 && n % spec.group_size != 0) {
    throw_invalid("fake_quant_activation: last dimension " + std::to_string(n) + " is not a multiple of group " +
                  std::to_string(spec.group_size));
  }
  return lv;
}

}  // namespace

at::Tensor fake_quant_activation(const at::Tensor& x, const ActQuantSpec& spec, bool ste) {
  if (!spec.enabled()) return x;
  check_activation_input(x, spec);
  if (ste) return fake_quant_activation_ste(x, spec);  // one autograd node, same value and gradient
  const bool needs_graph = at::GradMode::is_enabled() && x.requires_grad();
  const bool kernel_dtype = x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16;
  if (needs_graph || !kernel_dtype || !x.device().is_cpu() || x.numel() == 0) {
    return fake_quant_activation_reference(x, spec, ste);
  }
  const int64_t n = x.size(-1);
  const at::Tensor in = x.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(in);
  kernels::FakeQuantParams p;
  p.bits = spec.bits;
  p.symmetric = spec.symmetric;
  p.absmax_scale = spec.sym_scale == SymmetricScale::kAbsMax;
  p.clip_ratio = static_cast<float>(spec.clip_ratio);
  p.group = spec.group_size;
  kernels::fake_quant_rows(in.data_ptr<float>(), out.data_ptr<float>(), out.numel() / n, n, p);
  return out.to(x.scalar_type());
}

at::Tensor fake_quant_activation_reference(const at::Tensor& x, const ActQuantSpec& spec, bool ste) {
  if (!spec.enabled()) return x;
  const Levels lv = check_activation_input(x, spec);
  const int64_t n = x.size(-1);
  at::Tensor xc = x.to(compute_type(x));
  at::Tensor rows =
      spec.group_size > 0 ? xc.unflatten(-1, {n / spec.group_size, spec.group_size}) : xc;
  // Keep the graph: scales are differentiable (§7.1).
  auto [s, z] = activation_scale_zero(at::amin(rows, -1, true), at::amax(rows, -1, true), spec);
  at::Tensor out = quant_dequant(rows, s, z, lv, ste);
  if (spec.group_size > 0) out = out.flatten(-2);
  return out.to(x.scalar_type());
}

std::pair<double, double> activation_levels(const ActQuantSpec& spec) {
  const Levels lv = levels(spec.bits, spec.symmetric);
  return {lv.qmin, lv.qmax};
}

std::pair<at::Tensor, at::Tensor> activation_scale_zero(const at::Tensor& row_min, const at::Tensor& row_max,
                                                        const ActQuantSpec& spec) {
  const Levels lv = levels(spec.bits, spec.symmetric);
  const at::Tensor xmin = at::clamp_max(row_min, 0.0) * spec.clip_ratio;
  const at::Tensor xmax = at::clamp_min(row_max, kRangeFloor) * spec.clip_ratio;
  return scale_zero(xmin, xmax, spec.symmetric, spec.sym_scale, lv);
}

WeightQuantGrid weight_quant_grid(const at::Tensor& w, const WeightQuantSpec& spec) {
  check_weight(w, "weight_quant_grid");
  WeightQuantGrid grid;
  grid.bits = spec.enabled() ? spec.bits : 16;
  grid.symmetric = spec.symmetric;
  grid.group_size = spec.group_size > 0 ? spec.group_size : 0;
  if (!spec.enabled()) return grid;  // identity: no scale
  if (spec.mse_clip &&
      (spec.mse_grid <= 0 || spec.mse_max_shrink <= 0 || spec.mse_max_shrink > 1)) {
    throw_invalid("weight_quant_grid: MSE grid must be > 0 and max shrink in (0, 1]");
  }
  const Levels lv = levels(spec.bits, spec.symmetric);
  at::NoGradGuard no_grad;  // the grid is a constant of the training graph (§7.1)
  at::Tensor rows = to_group_rows(w.detach().to(at::kFloat), grid.group_size);
  auto [s, z] = search_rows(rows, spec, lv);
  grid.scale = s.reshape({w.size(0), -1}).contiguous();
  grid.zero = z.defined() ? z.reshape({w.size(0), -1}).contiguous() : at::zeros_like(grid.scale);
  return grid;
}

at::Tensor weight_quant_apply(const at::Tensor& w, const WeightQuantGrid& grid, int64_t first_col) {
  if (grid.bits >= 16) return w;
  check_weight(w, "weight_quant_apply");
  const Levels lv = levels(grid.bits, grid.symmetric);
  const at::ScalarType type = compute_type(w);
  auto [s, z] = grid_columns(grid, first_col, w.size(1), type);
  return quant_dequant(w.to(type), s, z, lv, false).to(w.scalar_type());
}

// int8 when [qmin, qmax] fits (every symmetric grid, asymmetric up to 7 bits); int16 for
// asymmetric 8-bit and wider, whose codes 0 … 255+ do not.
at::Tensor weight_quant_codes(const at::Tensor& w, const WeightQuantGrid& grid) {
  if (grid.bits >= 16)
    throw_invalid("weight_quant_codes: a 16-bit (identity) grid has no integer codes");
  check_weight(w, "weight_quant_codes");
  const Levels lv = levels(grid.bits, grid.symmetric);
  const at::ScalarType type = compute_type(w);
  auto [s, z] = grid_columns(grid, 0, w.size(1), type);
  at::Tensor codes = at::round(w.detach().to(type) / s);
  if (z.defined()) codes.add_(z);
  codes.clamp_(lv.qmin, lv.qmax);
  return codes.to(lv.qmax <= 127 ? at::kChar : at::kShort);
}

at::Tensor fake_quant_weight(const at::Tensor& w, const WeightQuantSpec& spec, bool ste) {
  if (!spec.enabled()) return w;
  const WeightQuantGrid grid = weight_quant_grid(w, spec);
  if (!ste) return weight_quant_apply(w, grid);
  const Levels lv = levels(grid.bits, grid.symmetric);
  const at::ScalarType type = compute_type(w);
  auto [s, z] = grid_columns(grid, 0, w.size(1), type);
  return quant_dequant(w.to(type), s, z, lv, true).to(w.scalar_type());
}

}  // namespace ostq
