// SPDX-License-Identifier: Apache-2.0
// Hadamard plans, matrices, transforms and random rotations. See hadamard.h and
// OSTQUANT_SPEC.md §3.3 / §10; the base constructions live in hadamard_build.cpp.
#include "core/quant/hadamard.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <tuple>
#include <utility>

#include "core/quant/hadamard_build.h"
#include "core/util/status.h"
#include "kernels/cpu/fwht.h"

namespace ostq {
namespace {

using Base = std::shared_ptr<const std::vector<int8_t>>;

// Built bases (and their transposes, the inverse's base), kept until their total passes the budget;
// then the cache starts over (callers hold shared_ptrs, so nothing in use is freed). One model needs
// only two or three orders.
constexpr size_t kCacheBudgetBytes = size_t{64} << 20;

// The ±1 base factor of order K, row-major [K, K]; its transpose when `transposed`.
Base base_matrix(int64_t K, bool transposed) {
  static std::mutex mutex;
  static std::map<std::pair<int64_t, bool>, Base> cache;
  static size_t cached_bytes = 0;
  if (K == 1) {
    static const Base one = std::make_shared<const std::vector<int8_t>>(1, int8_t{1});
    return one;
  }
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find({K, transposed});
  if (it != cache.end()) return it->second;
  std::vector<int8_t> built = detail::hadamard_base_build(K);
  if (transposed) {
    std::vector<int8_t> t(built.size());
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j) t[j * K + i] = built[i * K + j];
    built.swap(t);
  }
  Base b = std::make_shared<const std::vector<int8_t>>(std::move(built));
  if (cached_bytes + b->size() > kCacheBudgetBytes) {
    cache.clear();
    cached_bytes = 0;
  }
  cache.emplace(std::make_pair(K, transposed), b);
  cached_bytes += b->size();
  return b;
}

HadamardPlan plan_or_throw(int64_t n) {
  HadamardPlan plan;
  if (!hadamard_plan(n, &plan)) throw_unsupported("no Hadamard matrix of order " + std::to_string(n) + " is known");
  return plan;
}

int64_t last_dim_or_throw(const at::Tensor& x, const char* what) {
  if (!x.defined() || x.dim() < 1) throw_invalid(std::string(what) + ": needs a tensor with at least one dimension");
  if (!at::isFloatingType(x.scalar_type())) throw_invalid(std::string(what) + ": needs a floating-point tensor");
  return x.size(-1);
}

// fp64 for fp64 inputs, fp32 for everything else (fp16/bf16 are computed in fp32).
at::ScalarType compute_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// The base factor of x·M (A) or, for the inverse x·Mᵀ, its transpose: the Sylvester factor is
// symmetric, so (A ⊗ H_P)ᵀ = Aᵀ ⊗ H_P and the inverse is the same transform with Aᵀ as its base.
Base base_for(const HadamardPlan& plan, bool inverse) { return base_matrix(plan.base, inverse); }

// Bᵀ as a [K, K] tensor of `dtype` on `device` for the torch-op path (B = base_for(plan, inverse)).
at::Tensor base_transposed(const HadamardPlan& plan, bool inverse, at::ScalarType dtype, at::Device device) {
  const Base b = base_for(plan, inverse);
  at::Tensor a = at::empty({plan.base, plan.base}, at::kChar);
  std::memcpy(a.data_ptr<int8_t>(), b->data(), b->size());
  return a.t().to(device, dtype).contiguous();
}

// x · (A ⊗ H_P) / sqrt(n) with differentiable torch ops (butterflies by views, the K mix by matmul);
// used on accelerators, where the CPU kernel cannot run (on the CPU, HadamardCpu below carries the
// gradient).
// x: [..., n] float → same shape, in the compute dtype.
at::Tensor transform_torch_ops(const at::Tensor& x, const HadamardPlan& plan, bool inverse) {
  const int64_t K = plan.base, P = plan.pow2;
  const int64_t rows = x.numel() / plan.n;  // explicit: -1 cannot be inferred for an empty x
  at::Tensor y = x.to(compute_dtype(x)).reshape({rows, K, P});
  for (int64_t h = 1; h < P; h *= 2) {
    at::Tensor v = y.view({rows, K, P / (2 * h), 2, h});
    at::Tensor lo = v.select(3, 0), hi = v.select(3, 1);
    y = at::stack({lo + hi, lo - hi}, 3).view({rows, K, P});
  }
  if (K > 1) y = at::matmul(base_transposed(plan, inverse, y.scalar_type(), y.device()), y);
  return (y * (1.0 / std::sqrt(static_cast<double>(plan.n)))).view(x.sizes());
}

// buf [..., n] contiguous fp32/fp64 on the CPU ← buf · M (or · Mᵀ when inverse), in place.
void transform_in_place_cpu(at::Tensor& buf, const HadamardPlan& plan, bool inverse) {
  const int64_t n = plan.n;
  const int64_t rows = buf.numel() / n;
  const Base b = base_for(plan, inverse);
  const double scale = 1.0 / std::sqrt(static_cast<double>(n));
  if (buf.scalar_type() == at::kDouble)
    kernels::hadamard_rows_kron(buf.data_ptr<double>(), rows, plan.base, b->data(), plan.pow2, scale);
  else
    kernels::hadamard_rows_kron(buf.data_ptr<float>(), rows, plan.base, b->data(), plan.pow2,
                                static_cast<float>(scale));
}

}  // namespace

bool hadamard_plan(int64_t n, HadamardPlan* plan) {
  if (n < 1) return false;
  // Largest power of two first: the smaller the base, the cheaper the transform.
  for (int64_t pow2 = n & -n; pow2 >= 1; pow2 /= 2) {
    const int64_t K = n / pow2;
    std::string how = K == 1 ? std::string("sylvester") : detail::hadamard_base_construction(K);
    if (how.empty()) continue;
    if (plan) {
      if (K > 1 && pow2 > 1) how += " x sylvester(" + std::to_string(pow2) + ")";
      *plan = HadamardPlan{n, K, pow2, how};
    }
    return true;
  }
  return false;
}

at::Tensor hadamard_matrix(int64_t n) {
  const HadamardPlan plan = plan_or_throw(n);
  const Base b = base_matrix(plan.base, /*transposed=*/false);
  const int64_t K = plan.base, P = plan.pow2;
  int shift = 0;
  while ((int64_t{1} << shift) < P) ++shift;
  at::Tensor h = at::empty({n, n}, at::kDouble);
  double* out = h.data_ptr<double>();
  // H[(k,i),(k',j)] = A[k,k'] · (-1)^popcount(i & j) with row index k·P + i (H_base ⊗ H_pow2).
  at::parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int8_t* arow = b->data() + (r >> shift) * K;
      const uint64_t i = static_cast<uint64_t>(r & (P - 1));
      double* orow = out + r * n;
      for (int64_t c = 0; c < n; ++c) {
        const double a = arow[c >> shift];
        orow[c] = (__builtin_popcountll(i & static_cast<uint64_t>(c & (P - 1))) & 1) ? -a : a;
      }
    }
  });
  return h;
}

namespace {

// A private contiguous copy of x in the compute dtype, transformed by the CPU kernel.
at::Tensor kernel_copy(const at::Tensor& x, const HadamardPlan& plan, bool inverse) {
  at::Tensor buf = x.to(x.options().dtype(compute_dtype(x)), /*non_blocking=*/false, /*copy=*/true,
                        at::MemoryFormat::Contiguous);
  transform_in_place_cpu(buf, plan, inverse);
  return buf;
}

// y = x·M (or x·Mᵀ) on the CPU as one autograd node: the gradient is dy·Mᵀ (or dy·M), the other
// transform, and nothing is saved. The torch-op composition would keep every butterfly stage
// (measured 173 MB per layer for H_ff and its inverse at 1024 × 2048 in training).
struct HadamardCpu : public torch::autograd::Function<HadamardCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, bool inverse) {
    ctx->saved_data["inverse"] = inverse;
    return kernel_copy(x, plan_or_throw(x.size(-1)), inverse);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const bool inverse = ctx->saved_data["inverse"].toBool();
    return {kernel_copy(grads[0], plan_or_throw(grads[0].size(-1)), !inverse), at::Tensor()};
  }
};

at::Tensor transform(const at::Tensor& x, bool inverse, const char* what) {
  const int64_t n = last_dim_or_throw(x, what);
  const HadamardPlan plan = plan_or_throw(n);
  if (!x.device().is_cpu()) return transform_torch_ops(x, plan, inverse).to(x.scalar_type());
  if (x.requires_grad() && at::GradMode::is_enabled()) {
    return HadamardCpu::apply(x.to(compute_dtype(x)), inverse).to(x.scalar_type());
  }
  return kernel_copy(x, plan, inverse).to(x.scalar_type());
}

}  // namespace

at::Tensor hadamard_transform(const at::Tensor& x) { return transform(x, false, "hadamard_transform"); }

namespace detail {
at::Tensor hadamard_transform_torch_ops(const at::Tensor& x, bool inverse) {
  const HadamardPlan plan = plan_or_throw(last_dim_or_throw(x, "hadamard_transform_torch_ops"));
  return transform_torch_ops(x, plan, inverse).to(x.scalar_type());
}
}  // namespace detail

at::Tensor hadamard_transform_inverse(const at::Tensor& x) { return transform(x, true, "hadamard_transform_inverse"); }

at::Tensor& hadamard_transform_(at::Tensor& x) {
  const int64_t n = last_dim_or_throw(x, "hadamard_transform_");
  const HadamardPlan plan = plan_or_throw(n);
  const bool kernel_ok = x.device().is_cpu() && x.is_contiguous() && x.scalar_type() == compute_dtype(x) &&
                         !(x.requires_grad() && at::GradMode::is_enabled());
  if (kernel_ok) {
    transform_in_place_cpu(x, plan, /*inverse=*/false);
    if (!x.is_inference()) x.unsafeGetTensorImpl()->bump_version();  // written behind autograd's back
  } else {
    x.copy_(hadamard_transform(x));
  }
  return x;
}

at::Tensor hadamard_transform_dense(const at::Tensor& x) {
  const int64_t n = last_dim_or_throw(x, "hadamard_transform_dense");
  const at::ScalarType dtype = compute_dtype(x);
  const at::Tensor h = hadamard_matrix(n).to(x.device(), dtype);  // ±1: exact in any float dtype
  return (at::matmul(x.to(dtype), h) * (1.0 / std::sqrt(static_cast<double>(n)))).to(x.scalar_type());
}

OrthogonalMatrix random_hadamard(int64_t n, uint64_t seed) {
  OrthogonalMatrix out;
  HadamardPlan plan;
  if (!hadamard_plan(n, &plan)) {
    out.matrix = random_orthogonal(n, seed);
    out.description = "random orthogonal " + std::to_string(n) + " (no Hadamard of order " + std::to_string(n) +
                      "), seed " + std::to_string(seed);
    return out;
  }
  // Signs from the standard engine so the same seed gives the same matrix on every platform.
  std::mt19937_64 rng(seed);
  at::Tensor signs = at::empty({n, 1}, at::kDouble);
  for (int64_t i = 0; i < n; ++i) signs.data_ptr<double>()[i] = (rng() >> 63) ? -1.0 : 1.0;
  out.matrix = hadamard_matrix(n).mul_(signs).div_(std::sqrt(static_cast<double>(n)));  // diag(s)·H/√n
  out.is_hadamard = true;
  out.description = "random Hadamard " + std::to_string(n) + " (" + plan.construction + "), seed " +
                    std::to_string(seed);
  return out;
}

at::Tensor random_orthogonal(int64_t n, uint64_t seed) {
  if (n < 1) throw_invalid("random_orthogonal: order must be positive, got " + std::to_string(n));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor g = at::randn({n, n}, gen, at::TensorOptions().dtype(at::kDouble));
  at::Tensor q, r;
  std::tie(q, r) = at::linalg_qr(g);
  // QR is unique only up to column signs; fixing diag(R) > 0 makes Q a function of the seed.
  at::Tensor d = at::sign(r.diagonal());
  d.masked_fill_(d == 0, 1.0);
  return q * d.unsqueeze(0);
}

}  // namespace ostq
