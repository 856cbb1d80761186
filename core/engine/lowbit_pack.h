// SPDX-License-Identifier: Apache-2.0
// One quantized linear's integer weights in the canonical layout of kernels/lowbit.h, held in
// tensors on the device that runs them (host for the CPU variants, device memory for CUDA, so the
// same raw-pointer views serve both). Built once per linear by LowBitExecutor from the exact codes
// of quantized_linear(); see Note [lowbit padding] for shapes the kernels cannot take as they are.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/lowbit.h"

namespace ostq {

struct QuantizedLinear;

struct LowBitPackedLinear {
  int bits = 4;
  int64_t n = 0;         // out features
  int64_t k = 0;         // in features of the model's linear
  int64_t k_padded = 0;  // in features the kernels see (>= k, Note [lowbit padding])
  int64_t group = 0;     // weight columns per (scale, zero); divides k_padded
  at::Tensor data;       // uint8 [n, k_padded·bits/8]
  at::Tensor scale;      // fp32 [n, k_padded / group]
  at::Tensor zero;       // fp32 [n, k_padded / group], integer-valued code units
  at::Tensor code_sum;   // int32 [n, k_padded / group]
  bool int_gemm_ok = false;  // int_gemm_supported(weights, a_group = int_gemm_act_group) on the host copy
  int64_t int_gemm_act_group = 0;
  // Raw-pointer view for the kernels (pointers in the tensors' memory space).
  kernels::LowBitWeights view() const;
};

// Note [lowbit padding]: the kernels need the weight group to divide k (and k even at 4 bits); a
// grid whose last group is partial (stories260K's d_ff 172 with g32) is padded to whole groups
// with codes equal to the group's zero point (u − z = 0) and the activations with zero columns.
// Neither changes the result: zero columns add nothing to a dot product, and activation ranges
// already contain 0 (Note [ranges include zero] in quantizer.cpp), so per-token scales and codes
// of the real columns are unchanged.

// Packs l for the kernels on `device`. act_group: columns per activation (scale, zero) the integer
// GEMM would use (0 = per token over k_padded), for int_gemm_ok. Returns nullopt with the reason
// in *why when the linear cannot run on the kernels (bits other than 4 and 8, odd 4-bit groups).
std::optional<LowBitPackedLinear> lowbit_pack_linear(const QuantizedLinear& l, int64_t act_group,
                                                     const at::Device& device, std::string* why);

}  // namespace ostq
