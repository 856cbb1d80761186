// SPDX-License-Identifier: Apache-2.0
// compressed-tensors Hugging Face directories (FORMATS.md §6.2), weight-only: 4-bit weights in the
// `pack-quantized` format, 8-bit in `int-quantized`, as llm-compressor writes them for vLLM.
//
// Note [compressed-tensors export]:
//   - weight_scale and every unquantized tensor (embedding, norms, lm_head, biases) are stored in
//     ExportOptions::dense_dtype, which config.json names as torch_dtype. With the default F32 the
//     scales are the evaluated ones and the export reloads bit-exactly; with F16/BF16 the codes are
//     kept and the values move by the scale rounding (noted in the report).
//   - One scheme (bits, symmetric, group size) for all seven linears of every block, in a single
//     config group targeting "Linear" with "ignore": ["lm_head"]; strategy "group" (group_size g)
//     or "channel" (group_size null). Asymmetric grids add weight_zero_point.
//   - 8-bit `int-quantized` stores signed codes (code − 128 when asymmetric) as int8 `weight` and,
//     when asymmetric, an int8 weight_zero_point [out, n_groups] (zero − 128). **Uncertain**: the
//     asymmetric int8 zero-point layout follows compressed-tensors' naive compressor from memory.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/export/export.h"
#include "core/export/quantized_linear.h"

namespace ostq {

// The stored tensors of one linear [out, in] with n_groups = ceil(in/g) (1 per channel).
struct CompressedTensorsLinear {
  at::Tensor weight_packed;      // 4-bit: int32 [out, ceil(in/8)], nibble = signed code + 8, input zero-padded
  at::Tensor weight;             // 8-bit: int8 [out, in], signed code
  at::Tensor weight_scale;       // fp32 [out, n_groups]
  at::Tensor weight_shape;       // 4-bit: int64 [2] = [out, in]
  at::Tensor weight_zero_point;  // asymmetric only. 4-bit: int32 [ceil(out/8), n_groups], signed zero + 8
                                 // packed along the output; 8-bit: int8 [out, n_groups], signed zero
};

// Packs one linear of 4 bits (pack-quantized) or 8 bits (int-quantized).
CompressedTensorsLinear compressed_tensors_pack(const QuantizedLinear& l);

// Writes `q` as a compressed-tensors directory at out_dir (see Note [compressed-tensors export]).
// Throws StatusError: invalid for bit widths other than 4 and 8, mixed settings or unquantized
// weights; io for a full disk or unusable path; cancelled when o.progress asks to stop.
ExportReport write_compressed_tensors_export(const QuantizedModel& q, const std::string& out_dir,
                                             const ExportOptions& o);

}  // namespace ostq
