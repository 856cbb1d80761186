// SPDX-License-Identifier: Apache-2.0
// WOMI (OSTQUANT_SPEC.md §4). Everything in fp64; eigh on the CPU.
#include "core/calib/womi.h"

#include <torch/types.h>

#include "core/quant/hadamard.h"
#include "core/util/status.h"

namespace ostq {

namespace {

at::Tensor f64(const at::Tensor& t) { return t.to(at::kDouble).contiguous(); }

// Column mean and centred scatter Σ (x − μ)ᵀ(x − μ) of a stack of row blocks, accumulated block by
// block with the pairwise update of Chan, Golub & LeVeque, which is as accurate as centring the
// whole stack at once.
class ColumnMoments {
 public:
  // x: fp64 [rows, n].
  void add(const at::Tensor& x) {
    const double nb = static_cast<double>(x.size(0));
    if (nb == 0) return;
    at::Tensor mean_b = x.mean(0);
    at::Tensor xc = x - mean_b;
    at::Tensor m2_b = at::matmul(xc.t(), xc);
    if (n_ == 0) {
      n_ = nb;
      mean_ = mean_b;
      m2_ = m2_b;
      return;
    }
    const double total = n_ + nb;
    at::Tensor delta = mean_b - mean_;
    m2_ = m2_ + m2_b + at::outer(delta, delta) * (n_ * nb / total);
    mean_ = mean_ + delta * (nb / total);
    n_ = total;
  }
  double rows() const { return n_; }
  // Unbiased covariance fp64 [n, n].
  at::Tensor covariance(const std::string& what) const {
    if (n_ < 2) throw_invalid(what + ": WOMI needs at least two weight rows");
    return m2_ / (n_ - 1.0);
  }

 private:
  double n_ = 0;
  at::Tensor mean_, m2_;
};

// Eigenvectors of a symmetric fp64 [n, n] matrix as columns, eigenvalues ascending, each column's
// sign fixed (see Note [WOMI eigenvector signs]).
at::Tensor eigenbasis(const at::Tensor& c) {
  at::Tensor e = std::get<1>(at::linalg_eigh(c, "L"));
  at::Tensor pivot = e.gather(0, e.abs().argmax(0).unsqueeze(0)).squeeze(0);  // [n]
  at::Tensor sign = 1.0 - 2.0 * (pivot < 0).to(at::kDouble);
  return e * sign.unsqueeze(0);
}

// R = E·(D·H_n) fp64 [n, n]; `description` receives how D·H was built.
at::Tensor womi_rotation(const at::Tensor& cov, uint64_t seed, std::string* description) {
  OrthogonalMatrix dh = random_hadamard(cov.size(0), seed);
  if (description != nullptr) *description = dh.description;
  return at::matmul(eigenbasis(cov), dh.matrix);
}

void check_original(const Model& model) {
  if (model.online.ffn || model.online.qk) {
    throw_invalid(
        "WOMI: the model carries online rotations; initialise from the original (unmerged) model");
  }
}

std::vector<at::Tensor> ov_rotations(const Model& model, int64_t layer, uint64_t seed,
                                     std::string* first) {
  const ModelConfig& c = model.config;
  if (layer < 0 || layer >= c.n_layers) {
    throw_invalid("WOMI: layer " + std::to_string(layer) + " is out of range for a model with " +
                  std::to_string(c.n_layers) + " layers");
  }
  check_original(model);
  at::NoGradGuard no_grad;
  const int64_t d_h = c.head_dim, n_kv = c.n_kv_heads, g = c.n_heads / c.n_kv_heads;
  const at::Tensor wo = f64(model.weights.layers[layer].wo);  // [d, n_h·d_h]
  std::vector<at::Tensor> out;
  for (int64_t h = 0; h < n_kv; ++h) {
    // Columns of query heads h·g … h·g+g−1 → (d·g) × d_h, one row per (output row, query head).
    at::Tensor x = wo.narrow(1, h * g * d_h, g * d_h).reshape({c.dim * g, d_h});
    ColumnMoments m;
    m.add(x);
    const std::string what = "layer " + std::to_string(layer) + " KV head " + std::to_string(h);
    out.push_back(womi_rotation(m.covariance(what), ov_head_seed(seed, layer, h),
                                layer == 0 && h == 0 ? first : nullptr));
  }
  return out;
}

}  // namespace

at::Tensor womi_residual_rotation(const Model& model, uint64_t seed, std::string* note) {
  check_original(model);
  at::NoGradGuard no_grad;
  const ModelConfig& c = model.config;
  ColumnMoments m;
  for (const LayerWeights& l : model.weights.layers) {
    // §3.2 gain folding, W·diag(γ), on the fp64 copy of the original weights.
    const at::Tensor g_attn = f64(l.attn_norm), g_ffn = f64(l.ffn_norm);
    for (const at::Tensor* w : {&l.wq, &l.wk, &l.wv}) m.add(f64(*w) * g_attn);
    for (const at::Tensor* w : {&l.w_up, &l.w_gate}) m.add(f64(*w) * g_ffn);
  }
  std::string description;
  at::Tensor r = womi_rotation(m.covariance("R_res"), seed, &description);
  if (note != nullptr) {
    *note = "WOMI: eigenbasis of the column covariance of the stacked q,k,v,up,gate weights (" +
            std::to_string(static_cast<int64_t>(m.rows())) + " x " + std::to_string(c.dim) +
            ", norm gains folded) · " + description;
  }
  return r;
}

std::vector<at::Tensor> womi_ov_rotations(const Model& model, int64_t layer, uint64_t seed) {
  return ov_rotations(model, layer, seed, nullptr);
}

TransformSet transform_set_womi(const Model& model, uint64_t seed, bool qk_hadamard) {
  const ModelConfig& c = model.config;
  TransformSet t = transform_set_identity(c);
  t.seed = seed;
  std::string note;
  t.r_res = womi_residual_rotation(model, seed, &note);
  t.notes.push_back("R_res: " + note);
  std::string first;
  for (int64_t li = 0; li < c.n_layers; ++li)
    t.layers[li].r_ov = ov_rotations(model, li, seed, &first);
  t.notes.push_back(
      "R_ov: WOMI per KV head, eigenbasis of the o_proj column covariance of its query heads · " +
      first + " (layer 0 head 0; others own seeds)");
  t.ffn_rotation = true;
  t.qk_hadamard = qk_hadamard;
  return t;
}

}  // namespace ostq
