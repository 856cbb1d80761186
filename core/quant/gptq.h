// SPDX-License-Identifier: Apache-2.0
// The per-linear GPTQ core of OSTQUANT_SPEC.md §8.1 / §8.2: the input Hessian of one linear,
// the blocked column-by-column quantization with error feedback through the upper Cholesky factor
// of H⁻¹, and the layer reconstruction error used to compare GPTQ with RTN (§15.7).
// The sequential whole-model driver is core/quant/gptq_model.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/quant/quantizer.h"

namespace ostq {

// H = (2/N)·Σ_n x_n x_nᵀ over every token seen, in the running-average form of the reference
// GPTQ (H ← H·n/(n+m) + (2/(n+m))·XᵀX per batch of m tokens).
// Note [Hessian precision]: each batch's XᵀX is a GEMM in fp32 (fp64 for fp64 input), the
// running sum is kept in fp64. An fp64 GEMM costs 2× an fp32 one on CPU (measured: in = 4096,
// 4096 tokens: 1.3 s fp32, 2.7 s fp64, 1.8 s fp32 GEMM + fp64 accumulation); fp32 GEMMs over one
// batch lose nothing that matters after 1 % damping, while the fp64 sum keeps hundreds of batches
// from drifting and hands the Cholesky an fp64 matrix. Memory: 8·in² bytes (11008 → 0.97 GB).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t in_features);
  // x [..., in] in any float dtype (the leading dimensions are tokens); on x's device.
  void add(const at::Tensor& x);
  // fp64 [in, in]; zeros before the first add().
  at::Tensor hessian() const;
  int64_t samples() const { return samples_; }  // tokens seen
  int64_t in_features() const { return in_; }

 private:
  int64_t in_;
  int64_t samples_ = 0;
  at::Tensor h_;  // fp64 [in, in], created by the first add()
};

struct GptqOptions {
  WeightQuantSpec spec;        // §8.1: W4 sym per channel, MSE clip (2.4, 100, 0.8)
  double damp = 0.01;          // damping = damp · mean(diag H) added to the diagonal
  int64_t block_size = 128;    // columns per lazy-update block (§8.2); does not change the result
  bool act_order = false;      // columns in descending diag(H) order (forces static groups)
  bool static_groups = false;  // group grids from the original weights instead of at each boundary
};

struct GptqResult {
  at::Tensor weight;         // dequantized [out, in], dtype of the input weight
  WeightQuantGrid grid;      // the grid every column was quantized on (fp32 [out, n_groups])
  double error = 0;          // reconstruction_error(w, weight, H): mean_n ‖x_n(W − Q)ᵀ‖²
  double rtn_error = 0;      // the same for RTN weights (fake_quant_weight(w, spec))
  int64_t dead_columns = 0;  // inputs with H_ii = 0: their weight columns are zeroed
  double damp_used = 0;      // relative damping that made the Cholesky succeed (≥ options.damp)
  int damp_retries = 0;      // how often the damping was multiplied by 10
  double seconds = 0;
};

// w [out, in] any float dtype (arithmetic in fp32, fp64 for fp64 input), hessian [in, in] (any
// float dtype, e.g. HessianAccumulator::hessian()). Throws StatusError(invalid) on mismatched
// shapes, non-finite H, or an H that stays indefinite after damping ×10⁴.
GptqResult gptq_quantize(const at::Tensor& w, const at::Tensor& hessian,
                         const GptqOptions& options);

// Σ_n ‖x_n (W − Q)ᵀ‖² / N = tr((W − Q) H (W − Q)ᵀ) / 2 for H = (2/N) Σ x xᵀ; computed in fp64.
double reconstruction_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& hessian);

}  // namespace ostq
