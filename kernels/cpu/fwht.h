// SPDX-License-Identifier: Apache-2.0
// Fast Walsh–Hadamard transforms on raw row-major arrays (no torch). Used by
// core/quant/hadamard.cpp for the online H_ff / H_dh rotations and for weight folds.
//
// Convention (see OSTQUANT_SPEC.md §3.3): a row of length n = base·pow2 is viewed as
// X [base, pow2] and becomes  y = x · (A ⊗ H_pow2) · scale,  i.e.  Y = Aᵀ · (X · H_pow2) · scale,
// where H_pow2 is the natural-order Sylvester matrix (symmetric) and A the ±1 base matrix.
#pragma once

#include <cstdint>

namespace ostq::kernels {

// In place, unnormalised: each row of data [rows, n] becomes row · H_n. n must be a power of two.
void fwht_rows(float* data, int64_t rows, int64_t n);
void fwht_rows(double* data, int64_t rows, int64_t n);

// In place: each row of data [rows, base·pow2] becomes row · (A ⊗ H_pow2) · scale.
// base_matrix: A as ±1 int8, row-major [base, base] (base = 1 with {1} is plain FWHT).
// pow2 must be a power of two. Rows run in parallel (OpenMP) when the work is large enough.
void hadamard_rows_kron(float* data, int64_t rows, int64_t base, const int8_t* base_matrix,
                        int64_t pow2, float scale);
void hadamard_rows_kron(double* data, int64_t rows, int64_t base, const int8_t* base_matrix,
                        int64_t pow2, double scale);

}  // namespace ostq::kernels
