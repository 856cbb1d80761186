// SPDX-License-Identifier: Apache-2.0
// The quantization methods behind one interface (OSTQUANT_SPEC.md §9): each prepares the
// transforms it needs, merges them in fp64, then quantizes the weights (RTN or GPTQ). The result
// is an in-memory model whose weights hold the dequantized values and whose activations are
// fake-quantized at run time by ActivationQuantHooks. spinquant and ostquant learn their
// transforms first (core/calib/learn.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/calib/learn.h"
#include "core/model/model.h"
#include "core/quant/gptq.h"
#include "core/quant/gptq_model.h"
#include "core/quant/quant_config.h"
#include "core/quant/transforms.h"
#include "core/util/progress.h"

namespace ostq {

enum class QuantMethod { kRtn, kSmoothQuant, kGptq, kQuaRot, kSpinQuant, kOstQuant };
// "rtn", "smoothquant", "gptq", "quarot", "spinquant", "ostquant"
const char* quant_method_name(QuantMethod m);
bool method_learns_transforms(QuantMethod m);  // spinquant, ostquant

// A method spec as written on the command line: "rtn", "smoothquant", "gptq", "quarot",
// "spinquant", "ostquant", with an optional "+gptq" suffix choosing GPTQ instead of RTN for the
// weights ("quarot+gptq"). ostquant takes ablation variants as ":"-separated words before the
// suffix: womi | hadamard (rotation init), noscales (rotations only), kl_top | kl | ce (loss),
// e.g. "ostquant:hadamard:noscales+gptq".
struct MethodSpec {
  QuantMethod method = QuantMethod::kRtn;
  bool gptq_weights = false;
  RotationInit init = RotationInit::kAuto;
  bool learn_scales = true;
  std::optional<LossKind> loss;
  // ":wfq": fake-quantize the weights during training as the W4A16 recipe does, also when the
  // activations are quantized (the spec's default there trains with FP weights).
  bool weight_fake_quant = false;
  std::string name() const;  // canonical spelling
};
Result<MethodSpec> method_spec_parse(const std::string& text);

struct QuantizeOptions {
  MethodSpec method;
  QuantConfig config;
  double smooth_alpha = 0.5;     // SmoothQuant migration strength
  uint64_t seed = 42;            // rotations
  at::Tensor calibration;        // int64 [N, T] windows: SmoothQuant statistics, GPTQ Hessians
  int64_t batch = 4;             // windows per forward during calibration
  double gptq_damp = 0.01;
  int64_t gptq_block = 128;
  bool gptq_act_order = false;
  // H_ff on the down_proj input (§12). Off: no online op the runtime must apply, so weight-only
  // results can be exported to GPTQ / GGUF / llama2.c (which cannot express it).
  bool online_ffn_hadamard = true;
  // Learned methods: steps, batch, learning rates, checkpoints… (the MethodSpec's variant words
  // override init / scales / loss; seed and progress come from this struct).
  LearnOptions learn;
  ProgressFn progress;
};

using LayerWeightGrids = std::array<WeightQuantGrid, 7>;  // indexed by static_cast<int>(LinearId)

struct QuantizedModel {
  std::shared_ptr<Model> model;  // transforms merged, weights quantized, online rotations set
  QuantConfig config;            // activation / KV quantizers to apply at run time
  std::string method;            // MethodSpec::name()
  uint64_t seed = 42;
  std::vector<std::string> notes;          // transforms built, fallbacks, calibration used
  std::vector<GptqLinearReport> gptq;      // per-linear reconstruction errors when GPTQ ran
  std::shared_ptr<const LearnResult> learned;  // spinquant / ostquant: transforms, settings, loss log
  // Per layer, per linear (kLinearIds order): the grid each weight was quantized on, so exports can
  // recover the integer codes exactly. Empty when the weights are not quantized.
  std::vector<LayerWeightGrids> weight_grids;
  std::string calibration_hash;  // FNV-1a of the calibration tokens ("" when none were used)
  int64_t calibration_windows = 0, calibration_seqlen = 0;
  double seconds = 0.0;
};

// True when the method reads calibration windows (SmoothQuant statistics, GPTQ Hessians).
bool method_needs_calibration(const MethodSpec& method, const QuantConfig& config);

// Runs the method. `fp` is left untouched. Errors: invalid input (bad options, too little
// calibration data), cancelled (progress returned false).
Result<QuantizedModel> quantize_model(const Model& fp, const QuantizeOptions& options);

// Quantizes the seven linears of every layer in place with RTN (§8.3); returns the grids (empty
// when the spec is disabled).
std::vector<LayerWeightGrids> rtn_quantize_model(Model& model, const WeightQuantSpec& spec);

}  // namespace ostq
