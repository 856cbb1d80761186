// SPDX-License-Identifier: Apache-2.0
#include "core/analysis/moments.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/util/status.h"

namespace ostq {

namespace {

// cblas_?syrk of the BLAS LibTorch already loaded (OpenBLAS on Debian), looked up at run time so
// the build does not depend on a BLAS development package; at::mm when absent.
// CBLAS enum values: RowMajor 101, Upper 121, Trans 112.
using SsyrkFn = void (*)(int, int, int, int, int, float, const float*, int, float, float*, int);
using DsyrkFn = void (*)(int, int, int, int, int, double, const double*, int, double, double*, int);

struct SyrkApi {
  SsyrkFn s = nullptr;
  DsyrkFn d = nullptr;
};

const SyrkApi& syrk_api() {
  static const SyrkApi api = [] {
    SyrkApi a;
    a.s = reinterpret_cast<SsyrkFn>(dlsym(RTLD_DEFAULT, "cblas_ssyrk"));
    a.d = reinterpret_cast<DsyrkFn>(dlsym(RTLD_DEFAULT, "cblas_dsyrk"));
    return a;
  }();
  return api;
}

// out [d, d] (upper triangle) += yᵀy for y [M, d] row-major. Returns false when no SYRK exists.
bool syrk_upper(const at::Tensor& y, at::Tensor& out) {
  const int n = static_cast<int>(y.size(1)), k = static_cast<int>(y.size(0));
  if (y.scalar_type() == at::kFloat && syrk_api().s != nullptr) {
    syrk_api().s(101, 121, 112, n, k, 1.0f, y.data_ptr<float>(), n, 1.0f, out.data_ptr<float>(), n);
    return true;
  }
  if (y.scalar_type() == at::kDouble && syrk_api().d != nullptr) {
    syrk_api().d(101, 121, 112, n, k, 1.0, y.data_ptr<double>(), n, 1.0, out.data_ptr<double>(), n);
    return true;
  }
  return false;
}

// One pass over x [M, d] fp32: per-channel Σy..Σy⁴ (y = x − shift, fp64) and max |x|, written to
// `acc` (4·d doubles) and `amax` (d floats); y stored as fp32 when `y_out` is set.
template <bool kWriteY>
void channel_pass(const float* x, int64_t rows, int64_t d, const float* shift, double* acc,
                  float* amax, float* y_out) {
  double* a1 = acc;
  double* a2 = acc + d;
  double* a3 = acc + 2 * d;
  double* a4 = acc + 3 * d;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* yr = kWriteY ? y_out + r * d : nullptr;
    for (int64_t j = 0; j < d; ++j) {
      const double yd = static_cast<double>(xr[j]) - static_cast<double>(shift[j]);
      if constexpr (kWriteY) yr[j] = static_cast<float>(yd);
      const double y2 = yd * yd;
      a1[j] += yd;
      a2[j] += y2;
      a3[j] += y2 * yd;
      a4[j] += y2 * y2;
      const float av = std::fabs(xr[j]);
      amax[j] = amax[j] > av ? amax[j] : av;
    }
  }
}

}  // namespace

MomentAccumulator::MomentAccumulator(int64_t dim, const MomentsOptions& options)
    : dim_(dim), options_(options) {
  if (dim <= 0)
    throw StatusError(Status::internal("MomentAccumulator: dimension must be positive"));
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  s1_ = at::zeros({dim}, f64);
  s2_ = at::zeros({dim}, f64);
  s3_ = at::zeros({dim}, f64);
  s4_ = at::zeros({dim}, f64);
  absmax_ = at::zeros({dim}, at::kFloat);
  if (options_.covariance) cross_ = at::zeros({dim, dim}, f64);
}

void MomentAccumulator::add(const at::Tensor& x_in) {
  if (x_in.size(-1) != dim_) {
    throw StatusError(Status::internal("MomentAccumulator: expected " + std::to_string(dim_) +
                                       " channels, got " + std::to_string(x_in.size(-1))));
  }
  at::NoGradGuard no_grad;
  at::Tensor x = x_in.detach().reshape({-1, dim_}).to(at::kFloat).contiguous();
  const int64_t rows = x.size(0), d = dim_;
  if (rows == 0) return;
  if (count_ == 0) shift_ = at::mean(x, {0}, false, at::kDouble).to(at::kFloat).contiguous();

  const bool want_y = options_.covariance && !options_.fp64_products;
  at::Tensor y = want_y ? at::empty({rows, d}, at::kFloat) : at::Tensor();
  // Fixed chunking (not per thread) so the result does not depend on the thread count.
  const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{1} << 15) / d);
  const int64_t chunks = std::min<int64_t>((rows + chunk_rows - 1) / chunk_rows, 64);
  const int64_t per_chunk = (rows + chunks - 1) / chunks;
  std::vector<double> acc(static_cast<size_t>(chunks * 4 * d), 0.0);
  std::vector<float> amax(static_cast<size_t>(chunks * d), 0.0f);
  const float* xp = x.data_ptr<float>();
  const float* sp = shift_.data_ptr<float>();
  float* yp = want_y ? y.data_ptr<float>() : nullptr;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t r0 = c * per_chunk, r1 = std::min(rows, r0 + per_chunk);
      if (r0 >= r1) continue;
      double* a = acc.data() + c * 4 * d;
      float* m = amax.data() + c * d;
      if (want_y) {
        channel_pass<true>(xp + r0 * d, r1 - r0, d, sp, a, m, yp + r0 * d);
      } else {
        channel_pass<false>(xp + r0 * d, r1 - r0, d, sp, a, m, nullptr);
      }
    }
  });
  double* s[4] = {s1_.data_ptr<double>(), s2_.data_ptr<double>(), s3_.data_ptr<double>(),
                  s4_.data_ptr<double>()};
  float* am = absmax_.data_ptr<float>();
  for (int64_t c = 0; c < chunks; ++c) {
    const double* a = acc.data() + c * 4 * d;
    const float* m = amax.data() + c * d;
    for (int k = 0; k < 4; ++k) {
      for (int64_t j = 0; j < d; ++j) s[k][j] += a[k * d + j];
    }
    for (int64_t j = 0; j < d; ++j) am[j] = std::max(am[j], m[j]);
  }
  count_ += rows;

  if (!options_.covariance) return;
  if (options_.fp64_products) y = x.to(at::kDouble) - shift_.to(at::kDouble);
  const at::ScalarType pt = y.scalar_type();
  if (!product_.defined() || product_.scalar_type() != pt) {
    flush();
    product_ = at::zeros({d, d}, at::TensorOptions().dtype(pt));
  }
  if (!syrk_upper(y, product_)) product_.addmm_(y.t(), y);
  pending_rows_ += rows;
  if (pending_rows_ >= kFlushRows) flush();
}

void MomentAccumulator::flush() const {
  if (pending_rows_ == 0 || !product_.defined()) return;
  cross_.add_(product_);
  product_.zero_();
  pending_rows_ = 0;
}

at::Tensor MomentAccumulator::mean() const {
  if (count_ == 0) return at::zeros({dim_}, at::kDouble);
  return shift_.to(at::kDouble) + s1_ / static_cast<double>(count_);
}

at::Tensor MomentAccumulator::variance() const {
  if (count_ == 0) return at::zeros({dim_}, at::kDouble);
  const double n = static_cast<double>(count_);
  at::Tensor a = s1_ / n;
  return (s2_ / n - a * a).clamp_min(0.0);
}

at::Tensor MomentAccumulator::kurtosis() const {
  if (count_ == 0) return at::zeros({dim_}, at::kDouble);
  const double n = static_cast<double>(count_);
  at::Tensor a = s1_ / n;
  at::Tensor m2 = (s2_ / n - a * a).clamp_min(0.0);
  at::Tensor m4 = s4_ / n - 4.0 * a * s3_ / n + 6.0 * a * a * s2_ / n - 3.0 * a.pow(4);
  at::Tensor k = m4 / (m2 * m2);
  return at::where(m2 > 0.0, k, at::zeros_like(k));
}

at::Tensor MomentAccumulator::absmax() const { return absmax_.clone(); }

at::Tensor MomentAccumulator::covariance() const {
  if (!options_.covariance)
    throw StatusError(Status::internal("MomentAccumulator: covariance was not accumulated"));
  if (count_ == 0) return at::zeros({dim_, dim_}, at::kDouble);
  // cov = C/n − a·aᵀ (a = mean of y) from the upper triangle of C, mirrored: one tiled pass.
  flush();
  const int64_t d = dim_;
  const double n = static_cast<double>(count_);
  at::Tensor a_t = s1_ / n;
  at::Tensor out = at::empty({d, d}, at::kDouble);
  const double* c = cross_.data_ptr<double>();
  const double* a = a_t.data_ptr<double>();
  double* o = out.data_ptr<double>();
  constexpr int64_t kTile = 64;
  const int64_t tiles = (d + kTile - 1) / kTile;
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bi = begin; bi < end; ++bi) {
      for (int64_t bj = bi; bj < tiles; ++bj) {
        const int64_t i1 = std::min(d, (bi + 1) * kTile), j1 = std::min(d, (bj + 1) * kTile);
        for (int64_t i = bi * kTile; i < i1; ++i) {
          for (int64_t j = std::max(i, bj * kTile); j < j1; ++j) {
            const double v = c[i * d + j] / n - a[i] * a[j];
            o[i * d + j] = v;
            o[j * d + i] = v;
          }
        }
      }
    }
  });
  return out;
}

PooledMoments MomentAccumulator::pooled() const {
  PooledMoments p;
  if (count_ == 0) return p;
  const double n = static_cast<double>(count_), total = n * static_cast<double>(dim_);
  at::Tensor c = shift_.to(at::kDouble);
  const double m = (c * n + s1_).sum().item<double>() / total;
  at::Tensor b = c - m;  // x − m = y + b per channel
  const double q2 = (s2_ + 2.0 * b * s1_ + n * b * b).sum().item<double>();
  const double q4 = (s4_ + 4.0 * b * s3_ + 6.0 * b * b * s2_ + 4.0 * b.pow(3) * s1_ + n * b.pow(4))
                        .sum()
                        .item<double>();
  p.mean = m;
  p.variance = std::max(0.0, q2 / total);
  p.kurtosis = p.variance > 0.0 ? (q4 / total) / (p.variance * p.variance) : 0.0;
  p.absmax = absmax_.max().item<double>();
  return p;
}

}  // namespace ostq
