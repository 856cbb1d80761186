// SPDX-License-Identifier: Apache-2.0
// Streaming fp64 moments of row vectors x ∈ R^d (activations at one site, or the rows of a weight
// matrix): count, mean, the d×d covariance for QSUR, per-channel variance and kurtosis, per-channel
// absmax, and the same moments pooled over all values.
//
// Note [moment precision]: every batch is shifted by a per-channel constant (the first batch's
// mean), y = x − shift, so the sums never suffer the cancellation of raw power sums. The
// per-channel sums Σy, Σy², Σy³, Σy⁴ are formed in fp64 in one pass over the batch. The cross
// product Σ yᵀy is one fp32 SYRK per batch (half a GEMM; cblas_ssyrk of the BLAS LibTorch loaded,
// else at::addmm) into an fp32 buffer that is added to the fp64 accumulator every ≥ 4096 rows;
// with the shift the fp32 products carry a relative error near √K·2⁻²⁴ for K = 4096.
// `fp64_products` forms them in fp64 instead (about 2× the time).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace ostq {

struct MomentsOptions {
  bool covariance = true;      // accumulate the d×d cross product (needed for QSUR)
  bool fp64_products = false;  // per-batch yᵀy in fp64 instead of fp32 (both accumulate in fp64)
};

// Moments of all n·d values taken as one distribution (one tensor's histogram).
struct PooledMoments {
  double mean = 0.0;
  double variance = 0.0;  // population (1/N)
  double kurtosis = 0.0;  // Pearson (Gaussian: 3); 0 when the variance is 0
  double absmax = 0.0;
};

class MomentAccumulator {
 public:
  MomentAccumulator() = default;
  explicit MomentAccumulator(int64_t dim, const MomentsOptions& options = {});

  // x [..., d] in any floating dtype; every row is one sample.
  void add(const at::Tensor& x);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  bool has_covariance() const { return options_.covariance; }

  at::Tensor mean() const;        // fp64 [d]
  at::Tensor variance() const;    // fp64 [d], population (1/n)
  at::Tensor kurtosis() const;    // fp64 [d], Pearson (Gaussian 3); 0 for a zero-variance channel
  at::Tensor absmax() const;      // fp32 [d], max |x| per channel
  at::Tensor covariance() const;  // fp64 [d, d], population (1/n); throws when not accumulated
  PooledMoments pooled() const;

 private:
  int64_t dim_ = 0;
  int64_t count_ = 0;
  MomentsOptions options_;
  at::Tensor shift_;              // fp32 [d]
  at::Tensor s1_, s2_, s3_, s4_;  // fp64 [d]: Σy, Σy², Σy³, Σy⁴
  at::Tensor absmax_;             // fp32 [d]
  void flush() const;             // product_ → cross_
  static constexpr int64_t kFlushRows = 4096;
  mutable at::Tensor cross_;    // fp64 [d, d]: Σ yᵀy, upper triangle used (SYRK fills only it)
  mutable at::Tensor product_;  // pending yᵀy of the last < kFlushRows rows (fp32 or fp64)
  mutable int64_t pending_rows_ = 0;
};

}  // namespace ostq
