// SPDX-License-Identifier: Apache-2.0
#include "core/analysis/qsur.h"

#include <torch/types.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/util/status.h"

namespace ostq {

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw_invalid("normal quantile: p must be in (0, 1)");
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double p_low = 0.02425;
  double x;
  if (p < p_low || p > 1.0 - p_low) {
    const double q = std::sqrt(-2.0 * std::log(p < p_low ? p : 1.0 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    if (p > 1.0 - p_low) x = -x;
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  // One Halley step on Φ(x) − p brings the 1e-9 approximation to full precision.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

double chi2_quantile(int64_t d, double alpha) {
  if (d < 1) throw_invalid("chi-square quantile: d must be positive");
  if (!(alpha > 0.0 && alpha < 1.0)) throw_invalid("QSUR alpha must be in (0, 1)");
  if (d == 1) {
    const double z = normal_quantile(0.5 * (1.0 + alpha));
    return z * z;
  }
  if (d == 2) return -2.0 * std::log1p(-alpha);
  const double dd = static_cast<double>(d), k = 2.0 / (9.0 * dd);
  const double t = 1.0 - k + normal_quantile(alpha) * std::sqrt(k);
  return dd * t * t * t;
}

double log_unit_ball_volume(int64_t d) {
  const double h = 0.5 * static_cast<double>(d);
  return h * std::log(M_PI) - std::lgamma(h + 1.0);
}

namespace {

// Largest eigenpair of the symmetric tridiagonal matrix (alpha, beta) of size m.
std::pair<double, at::Tensor> tridiagonal_top(const std::vector<double>& alpha,
                                              const std::vector<double>& beta, int64_t m) {
  at::Tensor t = at::zeros({m, m}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < m; ++i) {
    a[i][i] = alpha[i];
    if (i + 1 < m) a[i][i + 1] = a[i + 1][i] = beta[i];
  }
  auto [w, v] = at::linalg_eigh(t);
  return {w[m - 1].item<double>(), v.select(1, m - 1).contiguous()};
}

// Lanczos with full reorthogonalization from `start`; returns the Ritz pair of the largest
// eigenvalue after at most m_max steps (converged: residual ≤ tol·|θ|).
TopEigen lanczos(const at::Tensor& A, at::Tensor start, int64_t m_max, double tol) {
  const int64_t d = A.size(0);
  at::Tensor V = at::zeros({m_max + 1, d}, at::kDouble);
  V[0].copy_(start / start.norm());
  std::vector<double> alpha, beta;
  TopEigen best;
  for (int64_t j = 0; j < m_max; ++j) {
    at::Tensor v = V[j];
    at::Tensor w = at::mv(A, v);
    const double aj = at::dot(w, v).item<double>();
    w.sub_(v, aj);
    if (j > 0) w.sub_(V[j - 1], beta[j - 1]);
    at::Tensor basis = V.narrow(0, 0, j + 1);
    for (int pass = 0; pass < 2; ++pass) w.sub_(at::mv(basis.t(), at::mv(basis, w)));
    const double bj = w.norm().item<double>();
    alpha.push_back(aj);
    beta.push_back(bj);
    const int64_t m = j + 1;
    const bool last = m == m_max || bj <= 1e-300;
    if (last || m % 8 == 0 || m < 4) {
      auto [theta, y] = tridiagonal_top(alpha, beta, m);
      const double resid = bj * std::fabs(y[m - 1].item<double>());
      best.value = theta;
      best.iterations = m;
      best.converged = resid <= tol * std::max(std::fabs(theta), 1e-300) || bj <= 1e-300;
      if (best.converged || last) {
        at::Tensor q = at::mv(basis.t(), y);
        best.vector = q / q.norm();
        return best;
      }
    }
    V[j + 1].copy_(w / bj);
  }
  return best;  // not reached
}

}  // namespace

TopEigen top_eigenpair(const at::Tensor& sym_in) {
  at::NoGradGuard no_grad;
  at::Tensor sym = sym_in.to(at::kDouble).contiguous();
  const int64_t d = sym.size(0);
  if (sym.dim() != 2 || sym.size(1) != d || d == 0)
    throw_invalid("top_eigenpair: expected a square matrix");
  TopEigen r;
  if (d <= 256) {
    auto [w, v] = at::linalg_eigh(sym);
    r.value = w[d - 1].item<double>();
    r.vector = v.select(1, d - 1).contiguous();
    return r;
  }
  // Deterministic start: a fixed-seed Gaussian, so results do not depend on global RNG state.
  at::Generator gen = at::detail::createCPUGenerator(0x5155u);
  at::Tensor start = at::randn({d}, gen, at::kDouble);
  const int64_t m_max = std::min<int64_t>(d, 384);
  int64_t total = 0;
  for (int restart = 0; restart < 3; ++restart) {
    r = lanczos(sym, start, m_max, 1e-10);
    total += r.iterations;
    if (r.converged) break;
    start = r.vector;
  }
  r.iterations = total;
  return r;
}

namespace {

// LAPACK dpstrf (Cholesky with complete pivoting for semi-definite matrices), looked up in the
// LAPACK LibTorch already loaded. Fortran ABI with the hidden length of `uplo`.
using DpstrfFn = void (*)(const char*, const int*, double*, const int*, int*, int*, const double*,
                          double*, int*, size_t);

DpstrfFn dpstrf_api() {
  static const DpstrfFn fn = reinterpret_cast<DpstrfFn>(dlsym(RTLD_DEFAULT, "dpstrf_"));
  return fn;
}

// ln det with pivots below tau floored at tau: numerical rank r by pivoted Cholesky, then
// Σ_{i<r} ln L_ii² + (d − r)·ln tau. False when dpstrf is unavailable or fails.
bool pivoted_log_det(const at::Tensor& sym, double tau, FlooredLogDet& r) {
  DpstrfFn fn = dpstrf_api();
  if (fn == nullptr) return false;
  at::Tensor a = sym.clone();  // symmetric: row- and column-major agree
  const int n = static_cast<int>(a.size(0));
  std::vector<int> piv(static_cast<size_t>(n));
  std::vector<double> work(static_cast<size_t>(2 * n));
  int rank = 0, info = 0;
  fn("L", &n, a.data_ptr<double>(), &n, piv.data(), &rank, &tau, work.data(), &info, 1);
  if (info < 0) return false;
  const double* p = a.data_ptr<double>();
  double sum = 0.0;
  for (int i = 0; i < rank; ++i) sum += 2.0 * std::log(p[static_cast<int64_t>(i) * n + i]);
  r.value = sum + static_cast<double>(n - rank) * std::log(tau);
  r.rank = rank;
  r.rank_deficient = rank < n;
  r.jitter = 0.0;
  return true;
}

}  // namespace

FlooredLogDet log_det_floored(const at::Tensor& sym_in, double lambda_max, double eig_floor,
                              bool known_deficient) {
  at::NoGradGuard no_grad;
  at::Tensor sym = sym_in.to(at::kDouble).contiguous();
  const int64_t d = sym.size(0);
  FlooredLogDet r;
  r.rank = d;
  if (!(lambda_max > 0.0) || !std::isfinite(lambda_max)) {
    r.value = -std::numeric_limits<double>::infinity();
    r.rank_deficient = true;
    r.rank = 0;
    return r;
  }
  const double tau =
      std::max(eig_floor, 10.0 * static_cast<double>(d) * std::numeric_limits<double>::epsilon()) *
      lambda_max;
  if (!known_deficient) {
    auto [L, info] = at::linalg_cholesky_ex(sym);
    if (info.item<int64_t>() == 0) {
      at::Tensor diag = L.diagonal();
      if ((diag * diag).min().item<double>() >= tau) {
        r.value = 2.0 * diag.log().sum().item<double>();
        return r;
      }
    }
  }
  if (pivoted_log_det(sym, tau, r)) {
    r.rank_deficient = r.rank_deficient || known_deficient;
    return r;
  }
  // Fallback without dpstrf: Σ + jitter·I, the jitter growing ×10 until the factorization succeeds.
  r.rank_deficient = true;
  at::Tensor eye = at::eye(d, at::kDouble);
  for (double jitter = tau; jitter <= 1e-2 * lambda_max; jitter *= 10.0) {
    auto [Lj, info_j] = at::linalg_cholesky_ex(sym + eye * jitter);
    if (info_j.item<int64_t>() == 0) {
      r.value = 2.0 * Lj.diagonal().log().sum().item<double>();
      r.jitter = jitter;
      return r;
    }
  }
  throw StatusError(Status::invalid_input("QSUR: the covariance is not positive semi-definite (" +
                                          std::to_string(d) + "x" + std::to_string(d) + ")"));
}

QsurResult qsur_from_spectrum(const QsurSpectrum& s, const QsurOptions& o) {
  at::NoGradGuard no_grad;
  const int64_t d = s.diag.numel();
  if (d == 0 || s.mean.numel() != d || s.q_max.numel() != d)
    throw_invalid("QSUR: inconsistent spectrum sizes");
  QsurResult r;
  r.d = d;
  r.samples = s.samples;
  r.alpha = o.alpha;
  r.center = o.center;
  r.c = chi2_quantile(d, o.alpha);
  r.lambda_max = s.lambda_max;
  r.log_det = s.log_det;
  r.rank_deficient = s.rank_deficient;
  at::Tensor q = s.q_max.to(at::kDouble).reshape({d});
  at::Tensor diag = s.diag.to(at::kDouble).reshape({d}).clamp_min(0.0);
  at::Tensor mu = o.center ? at::zeros({d}, at::kDouble) : s.mean.to(at::kDouble).reshape({d});
  r.qmax_inf = q.abs().max().item<double>();
  r.max_var = diag.max().item<double>();
  const double dd = static_cast<double>(d), sqrt_c = std::sqrt(r.c);
  // Exact per-coordinate extremes μ_j ± sqrt(c·Σ_jj) (§2.3).
  at::Tensor half = sqrt_c * diag.sqrt();
  const double edge_exact = ((mu + half).max() - (mu - half).min()).item<double>();
  // End points μ ± sqrt(c·λ_max)·q_max of the principal axis, both signs (§2.2).
  at::Tensor reach = std::sqrt(r.c * std::max(s.lambda_max, 0.0)) * q.abs();
  const double edge_axis = ((mu + reach).max() - (mu - reach).min()).item<double>();
  const double numerator = log_unit_ball_volume(d) + 0.5 * dd * std::log(r.c) + 0.5 * s.log_det;
  const double inf = std::numeric_limits<double>::infinity();
  r.log_exact =
      edge_exact > 0.0 && std::isfinite(s.log_det) ? numerator - dd * std::log(edge_exact) : -inf;
  r.log_axis =
      edge_axis > 0.0 && std::isfinite(s.log_det) ? numerator - dd * std::log(edge_axis) : -inf;
  r.exact_root = std::exp(r.log_exact / dd);
  r.axis_root = std::exp(r.log_axis / dd);
  return r;
}

QsurResult qsur_from_moments(const at::Tensor& mean, const at::Tensor& cov_in, int64_t samples,
                             const QsurOptions& o) {
  at::NoGradGuard no_grad;
  const int64_t d = cov_in.size(0);
  if (cov_in.dim() != 2 || cov_in.size(1) != d || mean.numel() != d) {
    throw_invalid("QSUR: expected mean [d] and covariance [d, d]");
  }
  at::Tensor cov = cov_in.to(at::kDouble).contiguous();
  if (!at::isfinite(cov).all().item<bool>())
    throw_invalid("QSUR: the covariance has non-finite entries");
  TopEigen top = top_eigenpair(cov);
  // Centred data from n rows span at most n − 1 dimensions.
  const bool too_few = samples > 0 && samples - 1 < d;
  FlooredLogDet ld = log_det_floored(cov, top.value, o.eig_floor, too_few);
  QsurSpectrum s;
  s.mean = mean.to(at::kDouble).reshape({d});
  s.diag = cov.diagonal().clone();
  s.q_max = top.vector;
  s.lambda_max = top.value;
  s.log_det = ld.value;
  s.samples = samples;
  s.rank_deficient = ld.rank_deficient || too_few;
  return qsur_from_spectrum(s, o);
}

QsurResult qsur_from_samples(const at::Tensor& x, const QsurOptions& o) {
  at::NoGradGuard no_grad;
  if (x.dim() != 2 || x.size(0) == 0) throw_invalid("QSUR: expected samples [n, d] with n > 0");
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor mean = xd.mean(0);
  at::Tensor xc = xd - mean;
  at::Tensor cov = at::mm(xc.t(), xc) / static_cast<double>(x.size(0));
  return qsur_from_moments(mean, cov, x.size(0), o);
}

}  // namespace ostq
