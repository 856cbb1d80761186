// SPDX-License-Identifier: Apache-2.0
// Riemannian Adam, Adam, Cayley SGD, SGD, clipping and schedules (OSTQUANT_SPEC.md §5).
#include "core/calib/optimizers.h"

#include <torch/types.h>

#include <cmath>
#include <sstream>
#include <utility>

#include "core/util/status.h"

namespace ostq {
namespace {

// §5.1 [rec]: fp64 arithmetic for rotations up to this size, fp32 above (relying on the periodic
// re-projection).
constexpr int64_t kFp64MaxDim = 1024;
// SpinQuant's epsilon in unit() and in α = min(lr, 1/(‖W‖₁ + eps)).
constexpr double kCayleyEps = 1e-8;
constexpr int kCayleyIterations = 5;
constexpr uint64_t kQrPeriod = 101;  // re-orthonormalise with probability 1/101
constexpr double kPi = 3.14159265358979323846;

std::string shape_str(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

at::ScalarType rotation_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble || x.size(0) <= kFp64MaxDim ? at::kDouble : at::kFloat;
}

// Zero buffers [n, n] in the rotation arithmetic dtype, one per parameter; checks squareness.
std::vector<at::Tensor> square_buffers(const std::vector<at::Tensor>& params, const char* name) {
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    if (p.dim() != 2 || p.size(0) != p.size(1)) {
      throw_invalid(std::string(name) + ": parameter " + std::to_string(i) + " has shape " +
                    shape_str(p.sizes()) + ", expected a square matrix");
    }
    out.push_back(at::zeros_like(p, p.options().dtype(rotation_dtype(p))));
  }
  return out;
}

std::vector<at::Tensor> zeros_like_all(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(at::zeros_like(p));
  return out;
}

// SpinQuant's qr_retraction: x [p, n] → rows orthonormalised, Q's column signs fixed so that
// diag(R) > 0.
at::Tensor qr_retraction(const at::Tensor& x) {
  auto [q, r] = at::linalg_qr(x.t());
  return (q * r.diagonal().sign()).t();
}

}  // namespace

// --- detail::OptimizerBase -------------------------------------------------------------------

namespace detail {

OptimizerBase::OptimizerBase(std::vector<at::Tensor> params, const char* name)
    : params_(std::move(params)), name_(name) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined() || !at::isFloatingType(params_[i].scalar_type())) {
      fail("parameter " + std::to_string(i) + " is not a floating-point tensor");
    }
  }
}

void OptimizerBase::fail(const std::string& message) const {
  throw_invalid(std::string(name_) + ": " + message);
}

size_t OptimizerBase::add_slot(std::string prefix, std::vector<at::Tensor> buffers) {
  slots_.push_back({std::move(prefix), std::move(buffers)});
  return slots_.size() - 1;
}

TensorState OptimizerBase::live_state() const {
  TensorState s;
  s["step"] = at::scalar_tensor(step_, at::kLong);
  for (const Slot& slot : slots_) {
    for (size_t i = 0; i < slot.buffers.size(); ++i) s[slot.prefix + "." + std::to_string(i)] = slot.buffers[i];
  }
  save_extra(s);
  return s;
}

TensorState OptimizerBase::state_dict() const {
  TensorState s = live_state();
  for (auto& [key, t] : s) t = t.detach().clone();
  return s;
}

void OptimizerBase::load_state_dict(const TensorState& state) {
  const TensorState live = live_state();
  for (const auto& [key, t] : live) {
    auto it = state.find(key);
    if (it == state.end() || !it->second.defined()) fail("state is missing key '" + key + "'");
    if (it->second.sizes() != t.sizes()) {
      fail("state key '" + key + "' has shape " + shape_str(it->second.sizes()) + ", expected " +
           shape_str(t.sizes()));
    }
  }
  for (const auto& [key, t] : state) {
    if (live.count(key) == 0) fail("unexpected state key '" + key + "'");
  }
  const int64_t step = state.at("step").item<int64_t>();
  if (step < 0) fail("state key 'step' is negative");

  at::NoGradGuard no_grad;
  step_ = step;
  for (Slot& slot : slots_) {
    for (size_t i = 0; i < slot.buffers.size(); ++i) {
      slot.buffers[i].copy_(state.at(slot.prefix + "." + std::to_string(i)));
    }
  }
  load_extra(state);
}

}  // namespace detail

// --- Riemannian Adam -------------------------------------------------------------------------

namespace {
enum RiemannianAdamSlot : size_t { kRadamM, kRadamV };
}

RiemannianAdam::RiemannianAdam(std::vector<at::Tensor> params, RiemannianAdamOptions options)
    : OptimizerBase(std::move(params), "RiemannianAdam"), options_(options) {
  std::vector<at::Tensor> m = square_buffers(params_, name_);
  std::vector<at::Tensor> v;
  for (const at::Tensor& mi : m) v.push_back(at::zeros({}, mi.options()));
  add_slot("m", std::move(m));
  add_slot("v", std::move(v));
}

void RiemannianAdam::step(double lr) {
  at::NoGradGuard no_grad;
  ++step_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(step_));
  const bool stabilize = options_.stabilize_every > 0 && step_ % options_.stabilize_every == 0;

  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    at::Tensor& m = buffer(kRadamM, i);  // [n, n] compute dtype
    at::Tensor& v = buffer(kRadamV, i);  // []     compute dtype
    const int64_t n = p.size(0);
    const at::Tensor x = p.detach().to(m.scalar_type());
    const at::Tensor g_e = p.grad().to(m.scalar_type());

    const at::Tensor g = g_e - x.mm(g_e.t()).mm(x);  // Riemannian gradient, canonical metric
    m.mul_(b1).add_(g, 1.0 - b1);
    const at::Tensor xtg = x.t().mm(g);
    v.mul_(b2).add_(g.square().sum() - 0.5 * xtg.square().sum(), 1.0 - b2);  // <g, g>_X

    const at::Tensor u = m * (-lr / bias1) / ((v / bias2).sqrt() + options_.eps);  // tangent step
    const at::Tensor ux = u.mm(x.t());
    const at::Tensor a = ux - ux.t();  // A = u Xᵀ − X uᵀ, skew [n, n] (exactly, by construction)
    // Cayley retraction of [X | m]: (I − ½A) Y = (I + ½A) [X | m].
    const at::Tensor xm = at::cat({x, m}, 1);  // [n, 2n]
    const at::Tensor y = at::linalg_solve(at::eye(n, x.options()) - 0.5 * a, xm + 0.5 * a.mm(xm));
    at::Tensor x_new = y.narrow(1, 0, n);
    at::Tensor m_new = y.narrow(1, n, n);
    if (stabilize) {
      auto [uu, s, vh] = at::linalg_svd(x_new, /*full_matrices=*/false);
      x_new = uu.mm(vh);                                   // polar projection
      m_new = m_new - x_new.mm(m_new.t()).mm(x_new);       // back onto the tangent space
    }
    p.copy_(x_new);
    m.copy_(m_new);
  }
}

// --- Adam ------------------------------------------------------------------------------------

namespace {
enum AdamSlot : size_t { kAdamM, kAdamV };
}

Adam::Adam(std::vector<at::Tensor> params, AdamOptions options)
    : OptimizerBase(std::move(params), "Adam"), options_(options) {
  add_slot("m", zeros_like_all(params_));
  add_slot("v", zeros_like_all(params_));
}

void Adam::step(double lr) {
  at::NoGradGuard no_grad;
  ++step_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(step_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const at::Tensor& g = p.grad();
    at::Tensor& m = buffer(kAdamM, i);
    at::Tensor& v = buffer(kAdamV, i);
    m.mul_(b1).add_(g, 1.0 - b1);
    v.mul_(b2).addcmul_(g, g, 1.0 - b2);
    // torch.optim.Adam's arrangement of lr·m̂/(sqrt(v̂) + eps).
    const at::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(options_.eps);
    p.addcdiv_(m, denom, -lr / bias1);
  }
}

// --- Cayley SGD ------------------------------------------------------------------------------

CayleySgd::CayleySgd(std::vector<at::Tensor> params, double momentum, uint64_t seed)
    : OptimizerBase(std::move(params), "CayleySgd"), momentum_(momentum) {
  add_slot("momentum", square_buffers(params_, name_));
  reseed(seed, 0);
}

void CayleySgd::reseed(uint64_t seed, int64_t draws) {
  seed_ = seed;
  draws_ = draws;
  rng_.seed(seed);
  rng_.discard(static_cast<unsigned long long>(draws));
}

void CayleySgd::save_extra(TensorState& out) const {
  out["rng"] = at::tensor(std::vector<int64_t>{static_cast<int64_t>(seed_), draws_}, at::kLong);
}

void CayleySgd::load_extra(const TensorState& in) {
  const at::Tensor rng = in.at("rng").to(at::kCPU);
  if (rng.scalar_type() != at::kLong) fail("state key 'rng' must be int64");
  const int64_t draws = rng[1].item<int64_t>();
  if (draws < 0) fail("state key 'rng' has a negative draw count");
  reseed(static_cast<uint64_t>(rng[0].item<int64_t>()), draws);
}

void CayleySgd::step(double lr) {
  at::NoGradGuard no_grad;
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    at::Tensor& v_buf = buffer(0, i);  // [n, n] compute dtype
    at::Tensor x = p.detach().to(v_buf.scalar_type());
    const at::Tensor g = p.grad().to(v_buf.scalar_type());

    x = x / (x.norm(2, {1}, /*keepdim=*/true) + kCayleyEps);  // unit rows
    ++draws_;
    if (rng_() % kQrPeriod == 0) x = qr_retraction(x);

    const at::Tensor v = momentum_ * v_buf - g.t();
    const at::Tensor mx = v.mm(x);
    const at::Tensor w_hat = mx - 0.5 * x.t().mm(x.mm(mx));
    const at::Tensor w = w_hat - w_hat.t();  // skew [n, n]
    // α = min(lr, 1/(‖W‖₁ + eps)), kept on the device (no host sync).
    const at::Tensor alpha = at::clamp_max(1.0 / (w.abs().sum(0).max() + kCayleyEps), lr);
    const at::Tensor xt = x.t();
    at::Tensor y = xt + alpha * v;
    for (int it = 0; it < kCayleyIterations; ++it) y = xt + alpha * w.mm(0.5 * (xt + y));
    p.copy_(y.t());
    v_buf.copy_(w.mm(xt));
  }
}

// --- SGD -------------------------------------------------------------------------------------

Sgd::Sgd(std::vector<at::Tensor> params, double momentum)
    : OptimizerBase(std::move(params), "Sgd"), momentum_(momentum) {
  add_slot("momentum", zeros_like_all(params_));
}

void Sgd::step(double lr) {
  at::NoGradGuard no_grad;
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    at::Tensor& b = buffer(0, i);
    b.mul_(momentum_).add_(p.grad());
    p.add_(b, -lr);
  }
}

// --- Clipping, schedules, diagnostics --------------------------------------------------------

at::Tensor tangent_component(const at::Tensor& x, const at::Tensor& g) { return 0.5 * (g - x.mm(g.t()).mm(x)); }

void project_rotation_gradients(const std::vector<at::Tensor>& rotations) {
  at::NoGradGuard no_grad;
  for (const at::Tensor& r : rotations) {
    if (r.grad().defined()) r.mutable_grad() = tangent_component(r.detach(), r.grad());
  }
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> norms;
  for (const at::Tensor& p : params) {
    if (!p.grad().defined()) continue;
    norms.push_back(at::linalg_vector_norm(p.grad(), 2, c10::nullopt, false, at::kDouble).to(at::kCPU));
  }
  if (norms.empty()) return 0.0;
  const double norm = at::stack(norms).norm().item<double>();
  if (std::isfinite(norm) && norm > max_norm) {
    at::NoGradGuard no_grad;
    const double coef = max_norm / (norm + 1e-6);
    for (const at::Tensor& p : params) {
      if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
  }
  return norm;
}

namespace {
void check_schedule(int64_t total) {
  if (total <= 0) throw_invalid("LR schedule: total steps must be positive, got " + std::to_string(total));
}
}  // namespace

double linear_decay_lr(double lr0, int64_t t, int64_t total) {
  check_schedule(total);
  return lr0 * (1.0 - static_cast<double>(t) / static_cast<double>(total));
}

double cosine_lr(double lr0, int64_t t, int64_t total) {
  check_schedule(total);
  return 0.5 * lr0 * (1.0 + std::cos(kPi * static_cast<double>(t) / static_cast<double>(total)));
}

double orthogonality_error(const at::Tensor& x) {
  if (x.dim() != 2) throw_invalid("orthogonality_error: expected a matrix, got shape " + shape_str(x.sizes()));
  const at::Tensor xd = x.detach().to(at::kDouble);
  return (xd.t().mm(xd) - at::eye(xd.size(1), xd.options())).abs().max().item<double>();
}

}  // namespace ostq
