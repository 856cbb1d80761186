// SPDX-License-Identifier: Apache-2.0
// QSUR, the Quantization Space Utilization Rate of OSTQUANT_SPEC.md §2: the volume of the
// α-confidence ellipsoid of a Gaussian fit N(μ, Σ) over the volume of the quantization hyper-cube
// that holds it. Two forms, both in fp64 and in the log domain (§2.4), reported as QSUR^(1/d):
//   exact (§2.3)  cube edge from the exact per-coordinate extremes μ_j ± sqrt(c·Σ_jj)
//   axis  (§2.2)  the paper's form: cube edge from the end points μ ± sqrt(c·λ_max)·q_max
// log QSUR = log v_d + (d/2)·log c + ½·log det Σ − d·log(edge), v_d the unit-ball volume.
//
// Note [QSUR decisions]:
// - Mean. Σ is always the covariance about the mean. By default (center = false) the cube edges
//   include μ, as in the spec's definitions; center = true drops μ (the "μ neglected" closed
//   forms, independent of c and α). With μ = 0 both agree.
// - c is the χ²_d quantile at α: exact for d = 1, 2, Wilson–Hilferty above (§2.4).
// - log det Σ comes from a Cholesky factorization, never from eigenvalues; the axis form needs
//   only the top eigenpair (dense eigh for d ≤ 256, Lanczos with full reorthogonalization above).
// - Rank deficiency (fewer samples than d, dead channels, linearly dependent channels): when a
//   plain Cholesky fails, a pivot L_ii² falls below τ = max(eig_floor, 10·d·ε)·λ_max, or the
//   samples cannot span d dimensions, a pivoted Cholesky (LAPACK dpstrf, tolerance τ) finds the
//   numerical rank r and log det = Σ_{i<r} ln L_ii² + (d − r)·ln τ: the missing eigenvalues are
//   floored at τ. The result is flagged `rank_deficient`; its true QSUR is 0, the floored value is
//   finite and only ranks such tensors among themselves. Never −inf or NaN unless Σ = 0 (then
//   λ_max = 0, flagged, logs −inf, roots 0). With fp32 covariance products (moments.h) a few
//   noise-level pivots may stay above τ; a count-deficient Σ is flagged all the same.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace ostq {

struct QsurOptions {
  double alpha = 0.99;       // confidence level of the ellipsoid; c = χ²_d quantile at alpha
  double eig_floor = 1e-12;  // relative eigenvalue floor (× λ_max) for rank-deficient Σ
  bool center = false;       // true: neglect μ in the cube edges (the μ = 0 closed forms)
};

struct QsurResult {
  int64_t d = 0;
  int64_t samples = 0;      // rows the moments came from (0 when given a covariance only)
  double exact_root = 0.0;  // QSUR_exact^(1/d)
  double axis_root = 0.0;   // QSUR_axis^(1/d)
  double log_exact = 0.0;   // ln QSUR_exact (not of the root)
  double log_axis = 0.0;    // ln QSUR_axis
  double log_det = 0.0;     // ln det Σ (floored when rank_deficient)
  double lambda_max = 0.0;  // largest eigenvalue of Σ
  double qmax_inf = 0.0;    // ‖q_max‖_∞ of its unit eigenvector
  double max_var = 0.0;     // max_j Σ_jj
  bool rank_deficient = false;
  double alpha = 0.0;   // as used
  double c = 0.0;       // χ²_d quantile at alpha
  bool center = false;  // as used
};

// χ²_d quantile at alpha ∈ (0, 1): exact for d = 1, 2, Wilson–Hilferty for d ≥ 3.
double chi2_quantile(int64_t d, double alpha);
// ln v_d = (d/2)·ln π − lgamma(d/2 + 1), the log volume of the unit d-ball.
double log_unit_ball_volume(int64_t d);
// Φ⁻¹(p) for p ∈ (0, 1) (Acklam's rational approximation plus one Newton step, |error| < 1e-14).
double normal_quantile(double p);

// The top eigenpair of a symmetric fp64 matrix [d, d].
struct TopEigen {
  double value = 0.0;
  at::Tensor vector;       // fp64 [d], unit norm
  int64_t iterations = 0;  // Lanczos steps (0: dense eigh)
  bool converged = true;
};
TopEigen top_eigenpair(const at::Tensor& sym);

// ln det of a symmetric positive semi-definite fp64 matrix with the floor policy of
// Note [QSUR decisions]; lambda_max sets the scale of the floor. known_deficient skips the plain
// factorization (e.g. fewer samples than dimensions).
struct FlooredLogDet {
  double value = 0.0;
  bool rank_deficient = false;
  int64_t rank = 0;     // numerical rank (pivots ≥ τ); d when the plain factorization succeeded
  double jitter = 0.0;  // τ·10^k added to the diagonal (fallback without LAPACK dpstrf only)
};
FlooredLogDet log_det_floored(const at::Tensor& sym, double lambda_max, double eig_floor,
                              bool known_deficient = false);

// Everything QSUR needs about N(μ, Σ); lets callers that know the spectrum (e.g. Σ' = RᵀΣR for
// a rotation R: same log det and λ_max, q' = Rᵀq) skip the factorizations.
struct QsurSpectrum {
  at::Tensor mean;   // fp64 [d]
  at::Tensor diag;   // fp64 [d], Σ_jj
  at::Tensor q_max;  // fp64 [d], unit top eigenvector
  double lambda_max = 0.0;
  double log_det = 0.0;
  int64_t samples = 0;
  bool rank_deficient = false;
};
QsurResult qsur_from_spectrum(const QsurSpectrum& s, const QsurOptions& options = {});

// mean fp64 [d], cov fp64 [d, d] (symmetric PSD), from `samples` rows (0 if unknown).
QsurResult qsur_from_moments(const at::Tensor& mean, const at::Tensor& cov, int64_t samples,
                             const QsurOptions& options = {});

// x [n, d] (rows are samples, any float dtype): fp64 mean and population covariance, then the
// above.
QsurResult qsur_from_samples(const at::Tensor& x, const QsurOptions& options = {});

}  // namespace ostq
