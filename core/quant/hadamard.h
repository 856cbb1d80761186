// SPDX-License-Identifier: Apache-2.0
// Hadamard matrices of the orders LLaMA-family models need (OSTQUANT_SPEC.md §10): Sylvester
// powers of two, Paley I/II, the stored ±1 tables (resources/hadamard, compiled into the binary)
// and Kronecker products K·2^m of those. Plus random Hadamards, seeded random orthogonal
// matrices and the fast online transform used for H_ff (down_proj input) and H_dh (q/k).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ostq {

// How an order n is built: n = base · 2^log2_pow2 with a ±1 base matrix of order `base`.
struct HadamardPlan {
  int64_t n = 0;
  int64_t base = 1;        // 1 (pure Sylvester), or a constructed / stored order (12, 20, 172 …)
  int64_t pow2 = 1;        // 2^m
  std::string construction;  // "sylvester", "paley1(11)", "table(172)", "paley2(17)"...
};

// True and the plan when this library can build a Hadamard matrix of order n.
bool hadamard_plan(int64_t n, HadamardPlan* plan = nullptr);
inline bool hadamard_exists(int64_t n) { return hadamard_plan(n, nullptr); }

// The ±1 matrix of order n, fp64 [n, n] with H Hᵀ = n·I. Throws StatusError(unsupported) when
// no construction is known. Convention: H_n = H_base ⊗ H_pow2 (Sylvester H_pow2 is symmetric).
at::Tensor hadamard_matrix(int64_t n);

// y = x · H_n / sqrt(n) over the last dimension (n = x.size(-1)): the one "right-multiply rows by
// M" routine used both online and for folding weights (W_down ← hadamard_transform(W_down)), so
// the possibly non-symmetric base factor is always applied the same way. x: any float dtype,
// any leading shape; computed in fp32 (fp64 when x is fp64) with the fast Walsh–Hadamard kernel
// and returned in x's dtype. Throws StatusError(unsupported) when no Hadamard of order n exists.
at::Tensor hadamard_transform(const at::Tensor& x);

// y = x · M_nᵀ with M_n = H_n / sqrt(n) as above: the inverse of hadamard_transform (equal to it
// when the base factor is symmetric). Same dtypes, shapes and paths.
at::Tensor hadamard_transform_inverse(const at::Tensor& x);

// In-place form of hadamard_transform (x ← x · H_n / sqrt(n)); returns x. Runs the kernel directly
// on x's storage when x is a contiguous fp32/fp64 CPU tensor outside autograd, which saves the
// copy of the functional form (the online H_ff on a fresh activation, weight folds); any other x
// is updated with x.copy_(hadamard_transform(x)).
at::Tensor& hadamard_transform_(at::Tensor& x);

// The same product with a dense matmul against hadamard_matrix(n) / sqrt(n) (reference).
at::Tensor hadamard_transform_dense(const at::Tensor& x);

namespace detail {
// The accelerator path of hadamard_transform / hadamard_transform_inverse (x·M or x·Mᵀ): butterflies
// by torch views and the base mix by matmul, differentiable through autograd. Non-CPU tensors always
// take it; exposed so that it can be tested against the dense reference on a CPU-only machine.
at::Tensor hadamard_transform_torch_ops(const at::Tensor& x, bool inverse);
}  // namespace detail

// An orthogonal matrix [n, n] fp64 for a rotation init, and what it is.
struct OrthogonalMatrix {
  at::Tensor matrix;          // fp64 [n, n], M Mᵀ = I
  bool is_hadamard = false;   // false: the seeded random orthogonal fallback
  std::string description;    // "random Hadamard 172 (table(172)), seed 42" / "random orthogonal 7 (no Hadamard of order 7), seed 42"
};

// diag(±1) · H_n / sqrt(n) with seeded signs; when no Hadamard of order n exists, the seeded
// random orthogonal fallback (QR of a Gaussian, sign-fixed so diag(R) > 0), flagged as such.
OrthogonalMatrix random_hadamard(int64_t n, uint64_t seed);

// Seeded random orthogonal fp64 [n, n]: Q of QR(Gaussian), columns sign-fixed by diag(R) > 0.
at::Tensor random_orthogonal(int64_t n, uint64_t seed);

}  // namespace ostq
