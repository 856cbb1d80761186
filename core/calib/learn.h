// SPDX-License-Identifier: Apache-2.0
// Learning the transforms end to end on the network output (OSTQUANT_SPEC.md §4–§6, §12):
// OSTQuant (R_res, R_ov per KV head, five smoothing vectors; WOMI or random-Hadamard init;
// Riemannian Adam + Adam, linear decay, gradient clipping; KL-Top loss) and SpinQuant (R1, one R2
// per layer; Cayley SGD, cosine schedule; cross-entropy). Activations (and weights in W4A16 runs)
// are fake-quantized with the STE. Checkpoints every N steps make a run resumable: a resumed run
// reaches the same transforms as an uninterrupted one (same thread count).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/calib/losses.h"
#include "core/model/model.h"
#include "core/quant/quant_config.h"
#include "core/quant/transforms.h"
#include "core/util/progress.h"
#include "core/util/status.h"

namespace ostq {

enum class LearnedMethod { kOstQuant, kSpinQuant };
const char* learned_method_name(LearnedMethod m);  // "ostquant", "spinquant"

enum class RotationInit { kAuto, kWomi, kHadamard };
const char* rotation_init_name(RotationInit init);  // "auto", "womi", "hadamard"
Result<RotationInit> rotation_init_parse(const std::string& text);

// Spec defaults (§5.2, §5.4).
inline constexpr double kOstQuantRotationLr = 0.01689753172873217;
inline constexpr double kOstQuantScaleLr = 0.0017898822675917248;
inline constexpr double kSpinQuantRotationLr = 1.5;

struct LearnOptions {
  LearnedMethod method = LearnedMethod::kOstQuant;
  int64_t steps = 100;
  int64_t batch = 0;           // windows per optimiser step; 0: 16 for W4A16, 32 otherwise (§12); SpinQuant 8
  int64_t micro_batch = 4;     // windows per forward/backward; gradients accumulate up to `batch`
  double lr_rotation = 0.0;    // 0: method default
  double lr_scale = 0.0;       // 0: kOstQuantScaleLr
  std::optional<LossKind> loss;  // default: KL-Top (OSTQuant), cross-entropy (SpinQuant)
  int64_t topk = 1000;         // KL-Top k, capped at the vocabulary size
  RotationInit init = RotationInit::kAuto;  // auto: WOMI when activations are quantized (OSTQuant)
  bool learn_scales = true;    // OSTQuant's smoothing vectors (SpinQuant never has scales)
  std::optional<bool> weight_fake_quant;  // default: weights < 16 bits and activations 16 bits
  bool online_ffn_hadamard = true;  // H_ff on the down input (§12); off for weight-only export targets
  uint64_t seed = 42;
  double grad_clip = 1.0;      // global gradient-norm clipping
  std::string checkpoint_dir;  // "" = no checkpoints
  int64_t checkpoint_every = 10;
  // Validation: hold out the last `validation_windows` of the windows (never trained on; the jobs
  // cut them from text the training windows do not touch, sample_windows_with_held_out), measure
  // the loss on them at the initialisation, every `validate_every` steps and at the last step, and
  // keep the transforms with the lowest held-out loss (early stopping on calibration text, so the
  // evaluation text is never used to select). 0 = off: train on all windows, keep the last step.
  int64_t validation_windows = 0;
  int64_t validate_every = 10;
  bool resume = false;         // continue from checkpoint_dir/checkpoint.pt when it exists
  ProgressFn progress;
};

// The settings a run actually used (defaults resolved), for reports and checkpoint matching.
struct LearnSettings {
  LearnedMethod method = LearnedMethod::kOstQuant;
  int64_t steps = 0, batch = 0, micro_batch = 0, topk = 0;
  double lr_rotation = 0.0, lr_scale = 0.0, grad_clip = 0.0;
  LossKind loss = LossKind::kKlTop;
  RotationInit init = RotationInit::kHadamard;  // resolved: womi or hadamard
  bool learn_scales = true, weight_fake_quant = false, online_ffn_hadamard = true;
  int64_t validation_windows = 0, validate_every = 0;
  uint64_t seed = 42;
  std::string describe() const;  // one line
};
LearnSettings resolve_learn_settings(const LearnOptions& options, const QuantConfig& config);

struct StepRecord {
  int64_t step = 0;  // 1-based
  double loss = 0.0, lr_rotation = 0.0, lr_scale = 0.0, grad_norm = 0.0, orthogonality_error = 0.0;
  double seconds = 0.0;  // wall time of the step
  double validation_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: not measured at this step
};

struct LearnResult {
  TransformSet transforms;        // learned, fp64
  TransformSet initial;           // before training (for QSUR before/after)
  LearnSettings settings;
  std::vector<StepRecord> log;    // every step, including those before a resume
  int64_t resumed_from_step = 0;  // 0: fresh run
  // With validation: the held-out loss of the initialisation, and the step whose transforms were
  // kept (0 = the initialisation; without validation always the last step).
  double initial_validation_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t selected_step = 0;
  std::string validation_summary;  // one line, "" without validation
  double seconds = 0.0;
  std::vector<std::string> notes;
};

// windows: int64 [N, T] calibration windows (the last validation_windows of them held out). `fp`
// is left untouched. Errors: invalid input (bad options, no windows, no training window left after
// the held-out ones, a checkpoint from different settings), cancelled (progress returned
// false; a checkpoint of the last completed step is written first when checkpoints are on).
Result<LearnResult> learn_transforms(const Model& fp, const QuantConfig& config, const at::Tensor& windows,
                                     const LearnOptions& options);

// The loss log as CSV ("step,loss,lr_rotation,lr_scale,grad_norm,orthogonality_error,seconds,
// validation_loss"; the last field empty where not measured).
std::string learn_log_csv(const std::vector<StepRecord>& log);

// FNV-1a over the bytes of the window tokens: identifies the calibration data in checkpoints,
// reports and export provenance.
uint64_t windows_hash(const at::Tensor& windows);

}  // namespace ostq
