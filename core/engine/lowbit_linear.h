// SPDX-License-Identifier: Apache-2.0
// Runs a quantized model's linears on its real low-bit weights through the kernels of
// kernels/lowbit.h instead of fake quantization: the ForwardHooks of `ostq eval` / `ostq generate`
// for a bundle with weight grids. Per linear, planned once at construction:
//   int_gemm     the input site has an activation quantizer the kernels can take: quantize_acts
//                (once per site tensor, shared by q/k/v and by gate/up) + integer GEMM (W4A4, W8A8)
//   weight_only  otherwise, on the activations as the fake-quant path sees them (16-bit, or
//                fake-quantized at the site): dequantize-on-the-fly GEMM (W4A16, W8A16)
//   dense        weights the kernels cannot take (3-bit, no grids): at::linear on the stored
//                dequantized weight, as the fake-quant path does
// The K/V-cache sites (key_rope, value) keep ActivationQuantHooks' fake quantization. Results
// equal the fake-quant path up to fp32 summation order (see tests/core/tst_lowbit_linear.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/forward.h"
#include "core/quant/quant_config.h"
#include "core/util/status.h"

namespace ostq {

struct QuantizedModel;
struct LowBitPackedLinear;
namespace kernels {
struct LowBitOps;
}

enum class LowBitPath { kIntGemm, kWeightOnly, kDense };
const char* lowbit_path_name(LowBitPath path);  // "int_gemm", "weight_only", "dense"

// What one linear runs, decided at construction.
struct LowBitLinearPlan {
  int64_t layer = 0;
  LinearId id = LinearId::kQ;
  LowBitPath path = LowBitPath::kDense;
  std::string label;   // "W4A4", "W4A16", "W8A8", "W4 on A4 fake-quant", "W3 dense"
  std::string reason;  // why not int_gemm ("" when int_gemm)
};

struct LowBitOptions {
  // Kernel variant; null: lowbit_cpu_best() for a model on the CPU, lowbit_cuda() on CUDA.
  const kernels::LowBitOps* ops = nullptr;
  // false: weight-only kernels everywhere (activations fake-quantized at their sites).
  bool int_gemm = true;
};

// Not thread-safe: one executor per thread running forwards (it caches the last quantized site).
class LowBitExecutor : public ForwardHooks {
 public:
  // Packs every linear of q (copied; q need not outlive the executor). Throws StatusError:
  // unsupported when the model's device has no kernel variant, internal on inconsistent grids.
  explicit LowBitExecutor(const QuantizedModel& q, const LowBitOptions& options = {});
  ~LowBitExecutor() override;
  LowBitExecutor(const LowBitExecutor&) = delete;
  LowBitExecutor& operator=(const LowBitExecutor&) = delete;

  void on_site(int64_t layer, Site site, at::Tensor& x) override;
  at::Tensor linear(int64_t layer, LinearId id, const at::Tensor& x, const at::Tensor& w,
                    const at::Tensor& b) override;

  const std::vector<LowBitLinearPlan>& plan() const { return plan_; }
  const char* ops_name() const;
  int64_t linears(LowBitPath path) const;  // planned linears on `path`
  int64_t calls(LowBitPath path) const;    // linear calls served on `path` so far
  bool uses_kernels() const { return linears(LowBitPath::kDense) < static_cast<int64_t>(plan_.size()); }
  // "kernel path (avx2): 42/42 linears int_gemm (W4A4), 0 weight_only, 0 dense fallback"
  std::string summary() const;
  // One line per distinct reason a linear is not on int_gemm, with counts ("" when none).
  std::string fallback_details() const;

 private:
  struct ActCache;
  at::Tensor run_int_gemm(int64_t layer, Site site, const LowBitPackedLinear& p, const at::Tensor& x,
                          const at::Tensor& b);
  at::Tensor run_weight_only(const LowBitPackedLinear& p, const at::Tensor& x, const at::Tensor& b);

  QuantConfig config_;
  const kernels::LowBitOps* ops_ = nullptr;
  std::vector<LowBitLinearPlan> plan_;               // [layer·7 + linear]
  std::vector<std::unique_ptr<LowBitPackedLinear>> packed_;  // [layer·7 + linear]; null for dense
  std::vector<std::array<bool, kSiteCount>> owned_;  // [layer][site]: quantized by int_gemm, not fake-quant
  std::unique_ptr<ActCache> cache_;
  std::array<int64_t, 3> calls_{};
};

// The executor for q, or the reason it cannot be built (no kernel variant for the device).
Result<std::shared_ptr<LowBitExecutor>> lowbit_executor_create(const QuantizedModel& q,
                                                               const LowBitOptions& options = {});

}  // namespace ostq
