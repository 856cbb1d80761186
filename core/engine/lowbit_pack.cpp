// SPDX-License-Identifier: Apache-2.0
#include "core/engine/lowbit_pack.h"

#include <torch/types.h>

#include <stdexcept>

#include "core/export/quantized_linear.h"
#include "core/util/status.h"

namespace ostq {

kernels::LowBitWeights LowBitPackedLinear::view() const {
  kernels::LowBitWeights w;
  w.bits = bits;
  w.n = n;
  w.k = k_padded;
  w.group = group;
  w.data = data.data_ptr<uint8_t>();
  w.scale = scale.data_ptr<float>();
  w.zero = zero.data_ptr<float>();
  w.code_sum = code_sum.data_ptr<int32_t>();
  return w;
}

namespace {

// A host vector as a tensor of `type` [rows, cols] (copied).
template <typename T>
at::Tensor to_tensor(const std::vector<T>& v, int64_t rows, at::ScalarType type) {
  at::Tensor t = torch::empty({rows, static_cast<int64_t>(v.size()) / std::max<int64_t>(rows, 1)},
                              at::TensorOptions().dtype(type));
  std::copy(v.begin(), v.end(), t.data_ptr<T>());
  return t;
}

}  // namespace

std::optional<LowBitPackedLinear> lowbit_pack_linear(const QuantizedLinear& l, int64_t act_group,
                                                     const at::Device& device, std::string* why) {
  auto refuse = [&](const std::string& reason) -> std::optional<LowBitPackedLinear> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  if (l.bits != 4 && l.bits != 8) return refuse(std::to_string(l.bits) + "-bit weights (kernels take 4 and 8)");
  const int64_t n = l.out_features(), k = l.in_features();
  const int64_t groups = l.scale.size(1);
  int64_t group = l.effective_group_size();
  int64_t k_padded = groups * group;  // whole groups (Note [lowbit padding])
  if (l.group_size <= 0 && l.bits == 4 && k % 2 != 0) k_padded = group = k + 1;  // one per-channel group
  if (l.bits == 4 && k_padded % 2 != 0) {
    return refuse("4-bit weights with an odd padded width " + std::to_string(k_padded));
  }
  if (k_padded < k) throw StatusError(Status::internal("lowbit_pack_linear: grid narrower than the weight"));

  // Unsigned codes (kernels/lowbit.h): symmetric u = q + 2^{b−1} with zero 2^{b−1}; asymmetric u = code.
  const at::Tensor codes = l.codes.to(at::kInt).contiguous();   // [n, k]
  const at::Tensor scale = l.scale.to(at::kFloat).contiguous();  // [n, groups]
  at::Tensor zero = l.zero.to(at::kFloat).contiguous();
  const int32_t offset = l.symmetric ? (1 << (l.bits - 1)) : 0;
  if (l.symmetric) zero = torch::full_like(scale, static_cast<float>(offset));
  std::vector<int32_t> u(static_cast<size_t>(n * k_padded));
  const int32_t* c = codes.data_ptr<int32_t>();
  const float* z = zero.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r) {
    int32_t* row = u.data() + r * k_padded;
    for (int64_t j = 0; j < k; ++j) row[j] = c[r * k + j] + offset;
    // Padding columns sit on their group's zero point: u − z = 0 (Note [lowbit padding]).
    for (int64_t j = k; j < k_padded; ++j) row[j] = static_cast<int32_t>(z[r * groups + j / group]);
  }
  kernels::LowBitWeightStore store;
  try {
    store = kernels::pack_lowbit_weights(u.data(), scale.data_ptr<float>(), zero.data_ptr<float>(), l.bits, n,
                                         k_padded, group);
  } catch (const std::invalid_argument& e) {
    return refuse(std::string("packing refused: ") + e.what());
  }
  LowBitPackedLinear p;
  p.bits = l.bits;
  p.n = n;
  p.k = k;
  p.k_padded = k_padded;
  p.group = group;
  p.int_gemm_act_group = act_group > 0 ? act_group : k_padded;
  // Checked on the host copy: the predicate may read the zero points.
  p.int_gemm_ok = k_padded % p.int_gemm_act_group == 0 && kernels::int_gemm_supported(store.view(), p.int_gemm_act_group);
  p.data = to_tensor(store.data, n, at::kByte).to(device);
  p.scale = to_tensor(store.scale, n, at::kFloat).to(device);
  p.zero = to_tensor(store.zero, n, at::kFloat).to(device);
  p.code_sum = to_tensor(store.code_sum, n, at::kInt).to(device);
  return p;
}

}  // namespace ostq
