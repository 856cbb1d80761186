// SPDX-License-Identifier: Apache-2.0
// KL-Top, full KL and cross-entropy losses (OSTQUANT_SPEC.md §6).
#include "core/calib/losses.h"

#include <torch/types.h>

#include <algorithm>
#include <sstream>

namespace ostq {
namespace {

std::string shape_str(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

void check_logits(const at::Tensor& logits, const char* fn, const char* what) {
  if (!logits.defined() || logits.dim() != 2 || logits.size(1) < 1 || !at::isFloatingType(logits.scalar_type())) {
    throw_invalid(std::string(fn) + ": " + what + " must be floating-point logits [P, V], got " +
                  (logits.defined() ? shape_str(logits.sizes()) : std::string("an undefined tensor")));
  }
}

// fp32 arithmetic, except that fp64 stays fp64 (finite-difference tests).
at::ScalarType loss_dtype(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// log softmax(z)[index] without materialising the [P, V] log-softmax: z [P, V], index [P, k].
at::Tensor gathered_log_softmax(const at::Tensor& z, const at::Tensor& index) {
  return z.gather(1, index) - at::logsumexp(z, {1}, /*keepdim=*/true);
}

}  // namespace

const char* loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::kKlTop: return "kl_top";
    case LossKind::kKl: return "kl";
    case LossKind::kCrossEntropy: return "ce";
  }
  return "?";
}

Result<LossKind> loss_kind_parse(const std::string& name) {
  for (LossKind kind : {LossKind::kKlTop, LossKind::kKl, LossKind::kCrossEntropy}) {
    if (name == loss_kind_name(kind)) return kind;
  }
  return Status::invalid_input("unknown loss '" + name + "' (expected kl_top, kl or ce)");
}

TeacherTopK teacher_topk(const at::Tensor& teacher_logits, int64_t k) {
  check_logits(teacher_logits, "teacher_topk", "teacher_logits");
  if (k < 1) throw_invalid("teacher_topk: k must be >= 1, got " + std::to_string(k));
  at::NoGradGuard no_grad;
  const at::Tensor z = teacher_logits.detach().to(loss_dtype(teacher_logits));  // [P, V]
  const int64_t kk = std::min(k, z.size(1));                                     // §6 [rec]
  auto [top, index] = at::topk(z, kk, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  TeacherTopK out;
  out.index = index;                                                                  // int64 [P, k]
  out.logp = (top - at::logsumexp(z, {1}, /*keepdim=*/true)).to(at::kFloat);          // fp32 [P, k]
  return out;
}

at::Tensor kl_top_loss_sum(const at::Tensor& student_logits, const TeacherTopK& teacher) {
  check_logits(student_logits, "kl_top_loss_sum", "student_logits");
  const at::Tensor& index = teacher.index;
  const at::Tensor& logp = teacher.logp;
  const int64_t p_count = student_logits.size(0), v = student_logits.size(1);
  if (!index.defined() || !logp.defined() || index.dim() != 2 || index.scalar_type() != at::kLong ||
      index.size(0) != p_count || index.size(1) > v || logp.sizes() != index.sizes()) {
    throw_invalid("kl_top_loss_sum: teacher top-k (index " +
                  (index.defined() ? shape_str(index.sizes()) : std::string("undefined")) + ", logp " +
                  (logp.defined() ? shape_str(logp.sizes()) : std::string("undefined")) +
                  ") does not fit student logits " + shape_str(student_logits.sizes()) +
                  " (expected int64 index and logp of the same shape [P, k <= V])");
  }
  const at::Tensor s = student_logits.to(loss_dtype(student_logits));
  const at::Tensor logq = gathered_log_softmax(s, index.to(s.device()));  // [P, k]
  const at::Tensor lp = logp.to(s.options());                            // [P, k]
  return (lp.exp() * (lp - logq)).sum();
}

at::Tensor kl_full_loss_sum(const at::Tensor& student_logits, const at::Tensor& teacher_logits) {
  check_logits(student_logits, "kl_full_loss_sum", "student_logits");
  check_logits(teacher_logits, "kl_full_loss_sum", "teacher_logits");
  if (student_logits.sizes() != teacher_logits.sizes()) {
    throw_invalid("kl_full_loss_sum: student logits " + shape_str(student_logits.sizes()) +
                  " and teacher logits " + shape_str(teacher_logits.sizes()) + " differ in shape");
  }
  const at::Tensor s = student_logits.to(loss_dtype(student_logits));
  const at::Tensor logp = at::log_softmax(teacher_logits.detach().to(s.options()), 1);  // [P, V]
  return (logp.exp() * (logp - at::log_softmax(s, 1))).sum();
}

at::Tensor cross_entropy_loss_sum(const at::Tensor& student_logits, const at::Tensor& labels) {
  check_logits(student_logits, "cross_entropy_loss_sum", "student_logits");
  const int64_t v = student_logits.size(1);
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != student_logits.size(0) ||
      labels.scalar_type() != at::kLong) {
    throw_invalid("cross_entropy_loss_sum: labels must be int64 [" + std::to_string(student_logits.size(0)) +
                  "], got " + (labels.defined() ? shape_str(labels.sizes()) : std::string("undefined")));
  }
  if ((labels >= v).any().item<bool>()) {
    throw_invalid("cross_entropy_loss_sum: a label is >= the vocabulary size " + std::to_string(v));
  }
  const at::Tensor s = student_logits.to(loss_dtype(student_logits));
  const at::Tensor y = labels.to(s.device());
  const at::Tensor ignored = y < 0;
  const at::Tensor nll = -gathered_log_softmax(s, y.clamp_min(0).unsqueeze(1)).squeeze(1);  // [P]
  return nll.masked_fill(ignored, 0.0).sum();
}

}  // namespace ostq
