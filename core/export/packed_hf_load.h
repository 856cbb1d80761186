// SPDX-License-Identifier: Apache-2.0
// Reads packed quantized Hugging Face checkpoints — GPTQ (FORMATS.md §6.1, v1 and v2 zeros,
// act-order g_idx) and compressed-tensors pack-quantized / int-quantized weight-only (§6.2) — back
// into a dequantized fp32 Model, so `ostq verify` can evaluate what a runtime would load.
//
// Note [packed hf validation]: every tensor's dtype and shape is checked against config.json and
// quantization_config before it is used, and errors name the file and tensor: missing tensors,
// wrong shapes, g_idx entries outside [0, n_groups), weight_shape that disagrees with the config,
// unknown quant_method / format / strategy, activation or KV-cache schemes and online transforms
// (Unsupported: the Model holds weights only). Linears that quantization_config does not quantize
// (GPTQ modules_in_block_to_quantize, compressed-tensors ignore/targets) are read as dense weights.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "core/export/compressed_tensors_export.h"
#include "core/export/gptq_export.h"
#include "core/model/model.h"

namespace ostq {

// True when <dir>/config.json has a quantization_config with quant_method "gptq" or
// "compressed-tensors". Never throws (false for anything unreadable).
bool is_packed_hf_dir(const std::string& dir);

// Loads a packed checkpoint as fp32 weights. Throws StatusError naming the file and problem.
std::shared_ptr<Model> packed_hf_load(const std::string& dir);

// fp32 [out, in] from GPTQ tensors (shapes as in GptqTensors; scales any float type, g_idx any
// integer type): W[n, k] = scales[g, n]·(q[k, n] − (z[g, n] + zero_offset)) with g = g_idx[k];
// zero_offset is 1 for v1 checkpoints (stored zero − 1), 0 for gptq_v2. Errors (g_idx out of
// range) read `what` + "g_idx …", so `what` is "<file>: tensor <prefix>.".
at::Tensor gptq_dequantize(const GptqTensors& t, int bits, int64_t out, int64_t in, int zero_offset,
                           const std::string& what);

// fp32 [out, in] from compressed-tensors tensors: weight_packed (b-bit) or weight (int8), scale
// [out, n_groups], optional zero point; g_idx int [in] maps each input column to its group.
// W[o, i] = scale[o, g]·(v[o, i] − zp[o, g]) with signed v and zp. `what` as for gptq_dequantize.
at::Tensor compressed_tensors_dequantize(const CompressedTensorsLinear& t, int bits, int64_t out, int64_t in,
                                         const at::Tensor& g_idx, const std::string& what);

}  // namespace ostq
