// SPDX-License-Identifier: Apache-2.0
// Optimisers for the OSTQuant calibration job (OSTQUANT_SPEC.md §5): Riemannian Adam on the
// Stiefel manifold for rotations (§5.1), element-wise Adam for scales, SpinQuant's Cayley SGD
// with its plain-SGD scale group (§5.4), global gradient-norm clipping and the LR schedules (§5.2).
//
// They work like torch.optim: the caller runs backward, optionally clip_grad_norm(), then
// step(lr); parameters are updated in place and gradients are read from p.grad() (a parameter
// without a gradient is skipped). Every optimizer's state round-trips through state_dict() /
// load_state_dict() bit-exactly, so a resumed job continues exactly where it stopped.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ostq {

// Optimizer state for checkpoints: name → tensor (cloned; detached from the optimizer).
using TensorState = std::map<std::string, at::Tensor>;

namespace detail {

// Note [optimizer state]: shared plumbing of the optimizers below. "step" (int64 scalar) counts
// step() calls — ONE counter per optimizer, as geoopt's per-group counter, used for the bias
// corrections and the stabilisation period; per-parameter buffers are saved as "<slot>.<i>"
// (i = index in the constructor's parameter list). load_state_dict() checks that every key is
// present with the shape of the live buffer and that no unknown key is given, before changing
// anything.
class OptimizerBase {
 public:
  int64_t steps() const { return step_; }
  TensorState state_dict() const;
  void load_state_dict(const TensorState& state);

 protected:
  OptimizerBase(std::vector<at::Tensor> params, const char* name);
  virtual ~OptimizerBase() = default;
  // Buffers are tensors: a copy would share them with the original.
  OptimizerBase(const OptimizerBase&) = delete;
  OptimizerBase& operator=(const OptimizerBase&) = delete;
  OptimizerBase(OptimizerBase&&) = default;
  OptimizerBase& operator=(OptimizerBase&&) = default;

  // Adds a slot of per-parameter buffers (one per parameter, same order); returns its index.
  size_t add_slot(std::string prefix, std::vector<at::Tensor> buffers);
  at::Tensor& buffer(size_t slot, size_t param) { return slots_[slot].buffers[param]; }
  // Extra state of a derived class (e.g. a random stream): written by save_extra, read back by
  // load_extra after the base has validated all keys (shapes as written by save_extra).
  virtual void save_extra(TensorState&) const {}
  virtual void load_extra(const TensorState&) {}
  [[noreturn]] void fail(const std::string& message) const;

  std::vector<at::Tensor> params_;
  int64_t step_ = 0;
  const char* name_;

 private:
  struct Slot {
    std::string prefix;
    std::vector<at::Tensor> buffers;
  };
  TensorState live_state() const;  // like state_dict() but sharing the live tensors
  std::vector<Slot> slots_;
};

}  // namespace detail

// --- Riemannian Adam (§5.1) ------------------------------------------------------------------

struct RiemannianAdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int stabilize_every = 10;  // polar re-projection of X (and projection of m) every k steps; <= 0: never
};

// Rotations X [n, n] (fp32, or fp64 for tests; leaf tensors requiring grad). Canonical metric,
// one scalar second moment per matrix, Cayley retraction with the momentum transported
// alongside, solved as (I − ½A)[X|m]' = (I + ½A)[X|m] (no inverse). Arithmetic in fp64 when
// n <= 1024 or X is fp64, else fp32; m and v are kept in that dtype; X keeps its dtype.
// State keys: "step", "m.<i>" [n, n], "v.<i>" (0-dim).
class RiemannianAdam : private detail::OptimizerBase {
 public:
  explicit RiemannianAdam(std::vector<at::Tensor> params, RiemannianAdamOptions options = {});
  void step(double lr);
  using OptimizerBase::load_state_dict;
  using OptimizerBase::state_dict;
  using OptimizerBase::steps;

 private:
  RiemannianAdamOptions options_;
};

// --- Adam for scales (§5.1 last line) --------------------------------------------------------

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Element-wise Adam, no weight decay: p ← p − lr·m̂/(sqrt(v̂) + eps), in the parameter's dtype
// (torch.optim.Adam's arithmetic). State keys: "step", "m.<i>", "v.<i>" (shape of p).
class Adam : private detail::OptimizerBase {
 public:
  explicit Adam(std::vector<at::Tensor> params, AdamOptions options = {});
  void step(double lr);
  using OptimizerBase::load_state_dict;
  using OptimizerBase::state_dict;
  using OptimizerBase::steps;

 private:
  AdamOptions options_;
};

// --- SpinQuant's Cayley SGD (§5.4) -----------------------------------------------------------

// Rotations X [n, n]. Per parameter with a gradient and per step, exactly §5.4: rows of X
// normalised (x / (‖x‖ + 1e-8), as SpinQuant's unit()); with probability 1/101 the sign-fixed QR
// re-orthonormalisation; V ← μV − Gᵀ; W skew from V and X; α = min(lr, 1/(‖W‖₁ + 1e-8));
// 5 fixed-point Cayley iterations; V ← W Xᵀ(old). Arithmetic dtype as RiemannianAdam.
// The 1/101 draw is `rng() % 101 == 0` with rng = std::mt19937_64(seed), one draw per parameter
// with a gradient per step, in parameter order (tests rely on this contract).
// State keys: "step", "momentum.<i>" [n, n], "rng" (int64 [2]: seed bits, draws so far).
class CayleySgd : private detail::OptimizerBase {
 public:
  CayleySgd(std::vector<at::Tensor> params, double momentum, uint64_t seed);
  void step(double lr);
  using OptimizerBase::load_state_dict;
  using OptimizerBase::state_dict;
  using OptimizerBase::steps;

 private:
  void save_extra(TensorState& out) const override;
  void load_extra(const TensorState& in) override;
  void reseed(uint64_t seed, int64_t draws);

  double momentum_;
  uint64_t seed_;
  int64_t draws_ = 0;
  std::mt19937_64 rng_;
};

// --- Plain SGD with momentum (the scale group next to Cayley SGD, §5.4) ----------------------

// torch.optim.SGD without dampening, Nesterov or weight decay: b ← μb + g; p ← p − lr·b.
// State keys: "step", "momentum.<i>" (shape of p).
class Sgd : private detail::OptimizerBase {
 public:
  Sgd(std::vector<at::Tensor> params, double momentum);
  void step(double lr);
  using OptimizerBase::load_state_dict;
  using OptimizerBase::state_dict;
  using OptimizerBase::steps;

 private:
  double momentum_;
};

// --- Clipping, schedules, diagnostics --------------------------------------------------------

// G ← X·skew(XᵀG) = ½(G − X·Gᵀ·X) for a square orthogonal X [n, n] and a Euclidean gradient G: its
// tangent component. Both Stiefel optimisers above depend on G only through it (for RiemannianAdam
// G − X·Gᵀ·X = 2·X·skew(XᵀG); CayleySgd's W = skew(XᵀG)).
at::Tensor tangent_component(const at::Tensor& x, const at::Tensor& g);

// Replaces each rotation's gradient by its tangent component. The normal component depends on how
// the loss is written off the manifold (the two student forms of trainable.h differ there) and no
// optimiser uses it, but it would count in the global norm of clip_grad_norm: projecting first
// makes clipping, and so training, independent of that choice.
void project_rotation_gradients(const std::vector<at::Tensor>& rotations);

// Global L2 norm over the gradients of `params` (those with a defined grad), accumulated in fp64.
// When norm > max_norm the gradients are scaled in place by max_norm/(norm + 1e-6) (PyTorch's
// clip_grad_norm_). A non-finite norm leaves the gradients untouched (the caller should skip the
// step). Returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

// LR for step index t = 0…total−1. Linear decay to 0 without warm-up (§5.2): lr0·(1 − t/total);
// cosine (SpinQuant): 0.5·lr0·(1 + cos(π t/total)). total must be > 0.
double linear_decay_lr(double lr0, int64_t t, int64_t total);
double cosine_lr(double lr0, int64_t t, int64_t total);

// max |XᵀX − I| for x [n, p] (any float dtype, evaluated in fp64): §15.2's orthogonality check.
double orthogonality_error(const at::Tensor& x);

}  // namespace ostq
