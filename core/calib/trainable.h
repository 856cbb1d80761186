// SPDX-License-Identifier: Apache-2.0
// The learnable transforms of OSTQuant / SpinQuant as autograd parameters, and the two forwards of
// training (OSTQUANT_SPEC.md §3.8): the student builds every linear's effective weight from the
// frozen, gain-folded base weight with the exact-mode formulas of §3.5 (fp32, differentiable in the
// rotations and scales) and runs the model with fake quantizers; the teacher is the untouched FP
// model. Both expose the final residual stream so the caller can compute the loss over the
// vocabulary in chunks of positions (memory independent of V × tokens).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "core/calib/optimizers.h"
#include "core/engine/forward.h"
#include "core/quant/quant_config.h"
#include "core/quant/transforms.h"

namespace ostq {

// How the student applies R_res and the smoothing vectors. Both compute the same function of the
// parameters (and the same loss, up to rounding); they differ in cost and in the normal component
// of the rotations' Euclidean gradients, which no Stiefel optimiser uses (learn.cpp clips the
// tangent components, so both forms train alike).
enum class StudentForm {
  kAuto,         // kActivations unless weights are fake-quantized
  kWeights,      // §3.8 literally: every linear's effective weight (§3.5) is rebuilt per forward;
                 // the residual stream is carried rotated. Needed for weight fake-quant.
  kActivations,  // the transforms act on the activations at the quantizers (rotated_fake_quant.h at
                 // the residual readers, per-head maps at Q/K/V/O, H_ff and S_up_down at the down
                 // input) around the gain-folded original weights; the residual stays unrotated.
                 // Per step it costs O(tokens·d²) instead of O(out·d²) per linear, and it keeps no
                 // per-step weight copies.
};

struct TrainableSpec {
  bool learn_scales = true;  // S_attn, S_ffn, S_ov, S_qk, S_up_down (OSTQuant); off: rotations only
  bool shared_r_ov = false;  // SpinQuant's R2: one matrix per layer shared by all KV heads
  QuantConfig quantizers;    // the student's fake quantizers (STE); default: none
  bool weight_fake_quant = false;  // fake-quantize the effective weights too (W4A16 recipe)
  StudentForm form = StudentForm::kAuto;
};

class TrainableTransforms {
 public:
  // `init` supplies R_res, R_ov and the online-rotation flags (H_ff, H_dh, seed); scales start at
  // the init's values or 1. Parameters are fp32 leaves with requires_grad. `fp` must outlive this.
  TrainableTransforms(const Model& fp, const TransformSet& init, const TrainableSpec& spec);

  const std::vector<at::Tensor>& rotations() const { return rotations_; }  // 2-D, orthogonal
  const std::vector<at::Tensor>& scales() const { return scales_; }        // 1-D, positive
  std::vector<at::Tensor> parameters() const;

  // Named parameter values ("r_res", "layers.3.r_ov.1" or "layers.3.r_ov", "layers.3.s_attn", ...).
  TensorState state() const;
  // Copies values in; throws StatusError(invalid) naming a missing or mis-shaped entry.
  void load_state(const TensorState& state);

  // The current values as a TransformSet (fp64, detached; flags from the init).
  TransformSet transform_set() const;

  StudentForm form() const { return form_; }  // resolved (never kAuto)

  // Student: tokens [B, T] int64 → final residual stream [B, T, d] fp32 (in the rotated basis for
  // kWeights, the original one for kActivations), with the autograd graph to every parameter and
  // the spec's fake quantizers (STE).
  at::Tensor student_hidden(const at::Tensor& tokens) const;
  // hidden [P, d] of the student → logits fp32 [P, V]: the FP final norm and lm_head after
  // undoing R_res (kWeights: x·R_resᵀ; the merged head W·γ·R applied to N(x) equals this); lm_head
  // stays unquantized.
  at::Tensor student_logits(const at::Tensor& hidden) const;
  // Teacher (no gradient): tokens → final residual stream [B, T, d] fp32; logits from it.
  at::Tensor teacher_hidden(const at::Tensor& tokens) const;
  at::Tensor teacher_logits(const at::Tensor& hidden) const;

 private:
  at::Tensor add_rotation(const std::string& name, const at::Tensor& init);
  at::Tensor add_scale(const std::string& name, const at::Tensor& init, int64_t n);
  at::Tensor head(const at::Tensor& normed_input) const;

  at::Tensor student_hidden_weights(const at::Tensor& tokens) const;
  at::Tensor student_hidden_activations(const at::Tensor& tokens) const;

  const Model& fp_;
  TransformSet flags_;                // the init without tensors: online flags, seed, notes
  OnlineRotations online_;
  QuantConfig quantizers_;
  bool weight_fake_quant_ = false;
  StudentForm form_ = StudentForm::kWeights;
  // fp32 base weights after RMSNorm folding (frozen); for kActivations the whole student model
  // (folded weights, unit norm gains, the online rotations) shares them.
  std::vector<LayerWeights> folded_;
  Model activation_student_;
  at::Tensor final_norm_, lm_head_;   // fp32 copies of the FP head
  at::Tensor r_res_;
  // The parameters per layer, fp32 leaves (r_ov: n_kv handles, all one tensor when shared).
  std::vector<LayerTransforms> layers_;
  std::vector<at::Tensor> rotations_, scales_;
  std::vector<std::string> rotation_names_, scale_names_;
};

}  // namespace ostq
