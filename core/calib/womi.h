// SPDX-License-Identifier: Apache-2.0
// WOMI — Weight Outlier Minimization Initialization (OSTQUANT_SPEC.md §4): the R_res and R_ov
// initialisations of W4A4 runs. Each rotation is E·(D·H): the eigenbasis E of a weight column
// covariance C followed by a random Hadamard, so the rotated weights' column covariance
// Rᵀ C R = Hᵀ Λ H has the constant diagonal tr Λ / n (equal weight variance on every input
// channel).
//
// Note [WOMI eigenvector signs]: eigh returns each eigenvector up to its sign, and which sign
// depends on the LAPACK build. Every column of E is flipped so that its entry of largest magnitude
// is positive, which makes R a function of the weights and the seed alone. The sign does not
// change the diagonal property above.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/quant/transforms.h"

namespace ostq {

// R_res fp64 [d, d], orthogonal. C is the unbiased column covariance (d×d) of the stacked
// input-side weights [W_q; W_k; W_v; W_up; W_gate] of every layer after folding the RMSNorm gains
// (W·diag(γ) in fp64 from the original weights), shape (L·(q_dim + 2·kv_dim + 2·d_ff)) × d; R =
// E·(D·H_d) with D·H_d = random_hadamard(d, seed).matrix, which is a seeded random orthogonal
// matrix when no Hadamard of order d exists (the constant diagonal then does not hold). `note` (if
// non-null) receives a one-line description. The covariance is accumulated matrix by matrix (Chan's
// pairwise update), so the stack is never materialised. Throws StatusError(invalid) for a model
// that already carries online rotations (WOMI needs the original weights).
at::Tensor womi_residual_rotation(const Model& model, uint64_t seed, std::string* note = nullptr);

// n_kv matrices fp64 [d_h, d_h] for layer `layer`: for KV head h the o_proj columns of its g query
// heads, W_o[:, h·g·d_h : (h+1)·g·d_h] reshaped to (d·g) × d_h (row = (output row, query head)),
// centred, unbiased covariance, eigh → E_h, R_h = E_h·(D_h·H_{d_h}) with the per-(layer, head)
// seed of transform_set_random_hadamard. Throws StatusError(invalid) for a layer out of range.
std::vector<at::Tensor> womi_ov_rotations(const Model& model, int64_t layer, uint64_t seed);

// A full TransformSet like transform_set_random_hadamard (H_ff on, H_dh when `qk_hadamard`,
// scales undefined = 1) with R_res and every R_ov from WOMI; the notes say so.
TransformSet transform_set_womi(const Model& model, uint64_t seed, bool qk_hadamard);

}  // namespace ostq
