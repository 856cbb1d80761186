// SPDX-License-Identifier: Apache-2.0
// The residual-reader quantizer of the activation-form student (trainable.h): the quantizer of
// OSTQUANT_SPEC.md §3.4 sees u = a·R·diag(1/σ) and the consumer gets the quantized value mapped
// back, v = Q(u)·diag(σ)·Rᵀ, so the layer's original (gain-folded) weights can be used as they are:
// v·Wᵀ = Q(u)·(W·R·diag(σ))ᵀ, the §3.5 merged weight. Costs two [P, d]×[d, d] products forward and
// one backward, where building the merged weights of the consumers costs out·d² each.
//
// Note [tangent-equivalent gradient]: with R orthogonal, v = a + e·Rᵀ where e = (Q(u) − u)⊙σ is
// the quantization error in the rotated basis. The exact Euclidean gradient of R is
// (aᵀ·dv + dvᵀ·a)·R + dvᵀ·e + aᵀ·(δ⊘σ); its first term is symmetric-times-R, i.e. normal to the
// orthogonal group at R, and every Stiefel optimiser discards it (its Riemannian gradient is zero),
// so it is dropped and the returned gradient has the exact tangent component. δ is the sparse part
// of the STE's Jacobian: the clamp (zero gradient outside the code range) and the scale's
// dependence on the row minimum and maximum. Gradients of a and σ are exact (da up to RRᵀ = I).
#pragma once

#include <ATen/core/Tensor.h>

#include "core/quant/quantizer.h"

namespace ostq {

// a [..., d] float, r [d, d] (orthogonal), sigma [d] positive or undefined (ones); spec per token
// (group_size 0). Returns v [..., d] with the autograd graph described above (a, r, sigma may all
// require grad). Throws StatusError(internal) for a grouped spec or mismatched shapes.
at::Tensor rotated_fake_quant(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma,
                              const ActQuantSpec& spec);

// The reference: (fake_quant_activation((a·R)⊘σ, spec, ste = true) ⊙ σ)·Rᵀ composed of autograd ops
// (exact Euclidean gradients). Any spec, grouped included.
at::Tensor rotated_fake_quant_reference(const at::Tensor& a, const at::Tensor& r, const at::Tensor& sigma,
                                        const ActQuantSpec& spec);

}  // namespace ostq
