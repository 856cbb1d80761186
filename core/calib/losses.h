// SPDX-License-Identifier: Apache-2.0
// Calibration losses (OSTQUANT_SPEC.md §6): KL-Top against the full-precision teacher (the
// default), full KL, and cross-entropy on labels (SpinQuant's loss).
//
// Every function takes logits flattened over positions, [P, V], and returns the SUM over
// positions as a 0-dim tensor, so a batch computed in chunks of positions adds up exactly; the
// caller divides by B·T. Arithmetic is fp32 (bf16/fp16 inputs are cast; fp64 inputs stay fp64,
// which the gradient tests use). Only the student's logits carry a gradient.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "core/util/status.h"

namespace ostq {

enum class LossKind { kKlTop, kKl, kCrossEntropy };

const char* loss_kind_name(LossKind kind);                 // "kl_top", "kl", "ce"
Result<LossKind> loss_kind_parse(const std::string& name);  // inverse of loss_kind_name

// The teacher's side of KL-Top for a chunk of positions, so the teacher's [P, V] logits need not
// be kept: index int64 [P, k] = the k largest teacher logits per position (k = min(k, V), sorted
// by decreasing logit); logp fp32 [P, k] = teacher log_softmax over the FULL vocabulary gathered
// at index (no renormalisation). 12 bytes per entry: 12 kB per position at k = 1000.
struct TeacherTopK {
  at::Tensor index, logp;
};

// teacher_logits [P, V] any float dtype (detached); k >= 1.
TeacherTopK teacher_topk(const at::Tensor& teacher_logits, int64_t k);

// KL-Top, §6: Σ_positions Σ_{i∈I} p_i (log p_i − log q_i), q = softmax(student) over the full
// vocabulary. student_logits [P, V]; teacher from teacher_topk on the same positions.
// Gradient per position: m_p·q_j − p_j·1[j∈I], m_p = Σ_{i∈I} p_i.
at::Tensor kl_top_loss_sum(const at::Tensor& student_logits, const TeacherTopK& teacher);

// Full KL(p‖q) summed over positions (= KL-Top with k = V), from the teacher's logits [P, V].
at::Tensor kl_full_loss_sum(const at::Tensor& student_logits, const at::Tensor& teacher_logits);

// Σ_positions −log q[label]; labels int64 [P] in [0, V), or negative for "no label" (ignored;
// the last position of a window has none).
at::Tensor cross_entropy_loss_sum(const at::Tensor& student_logits, const at::Tensor& labels);

}  // namespace ostq
