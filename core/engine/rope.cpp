// SPDX-License-Identifier: Apache-2.0
// RoPE tables and application (rotate_half layout; FORMATS.md §5, §4.2 for llama3 scaling).
#include <torch/types.h>

#include <cmath>
#include <vector>

#include "core/engine/forward.h"

namespace ostq {

namespace {

// Inverse frequencies ω_j = θ^(−2j/d_h), j < d_h/2, with llama3-style scaling when configured.
std::vector<double> inverse_frequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(half);
  for (int64_t j = 0; j < half; ++j) {
    // fp32 as llama2.c (1.0f / powf(10000.0f, 2j / (float)d_h)) and HF's float32 inv_freq.
    inv[j] = 1.0f / std::pow(static_cast<float>(c.rope_theta),
                             static_cast<float>(2 * j) / static_cast<float>(c.head_dim));
  }
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScaling::Type::kLlama3) {
    const double old_ctx = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_ctx / s.low_freq_factor;
    const double high_wavelen = old_ctx / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else {
        const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, int64_t start, int64_t length) {
  const std::vector<double> inv = inverse_frequencies(c);
  const int64_t half = static_cast<int64_t>(inv.size());
  at::Tensor cos = torch::empty({length, half}, torch::kFloat32);
  at::Tensor sin = torch::empty({length, half}, torch::kFloat32);
  float* pc = cos.data_ptr<float>();
  float* ps = sin.data_ptr<float>();
  for (int64_t t = 0; t < length; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      // fp32 angle as in the reference implementations (llama2.c and HF both form pos·ω in fp32).
      const float angle = static_cast<float>(start + t) * static_cast<float>(inv[j]);
      pc[t * half + j] = std::cos(angle);
      ps[t * half + j] = std::sin(angle);
    }
  }
  return {cos, sin};
}

at::Tensor rope_apply(const at::Tensor& x, const at::Tensor& cos_t, const at::Tensor& sin_t) {
  const int64_t half = x.size(-1) / 2;
  const int64_t T = x.size(1);
  at::Tensor c = cos_t.view({1, T, 1, half}).to(x.scalar_type());
  at::Tensor s = sin_t.view({1, T, 1, half}).to(x.scalar_type());
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

}  // namespace ostq
