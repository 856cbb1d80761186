// SPDX-License-Identifier: Apache-2.0
// GPTQ v1 ("gptq" checkpoint format) Hugging Face directories, FORMATS.md §6.1: packed 4- or 8-bit
// symmetric weights as AutoGPTQ, transformers/optimum and vLLM load them.
//
// Note [gptq export]:
//   - Only symmetric codes are written (vLLM's fast kernels need sym: true); asymmetric grids are
//     refused. Every linear must share one bit width and group size (one quantization_config).
//   - Scales are stored as fp16 and the integer codes are kept, so each reloaded weight differs
//     from the evaluated one by the fp16 rounding of its scale (relative ≤ 2^-11 of the group's
//     largest value); the report's notes give the largest change.
//   - A linear whose in_features is not a multiple of 32/b or whose out_features is not a multiple
//     of 8 cannot be held in qweight/qzeros (stories260K: gate/up out = 172, down in = 172); one
//     whose in_features is not a multiple of the group size is refused by vLLM. Such a linear is
//     stored dense (fp16 `weight`) and quantization_config lists the modules that are quantized in
//     every block under `modules_in_block_to_quantize` (transformers' GPTQConfig field).
//   - Embedding, norms, lm_head and biases are fp16 whatever ExportOptions::dense_dtype says (a
//     note is added for BF16); config.json says "torch_dtype": "float16".
//     quantization_config is also written as quantize_config.json.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "core/export/export.h"
#include "core/export/quantized_linear.h"

namespace ostq {

// The four tensors of one GPTQ linear with `in` inputs, `out` outputs, g columns per group,
// n_groups = ceil(in/g), pf = 32/b values per int32 word.
struct GptqTensors {
  at::Tensor qweight;  // int32 [in/pf, out]: q[k, n] = code + 2^{b−1} at bits 4·(k % pf) of row k/pf
  at::Tensor qzeros;   // int32 [n_groups, out/pf]: zero − 1, packed along the output
  at::Tensor scales;   // fp16 [n_groups, out]
  at::Tensor g_idx;    // int32 [in]: k / g
};

// True when a linear [out, in] fits standard GPTQ tensors at `bits` and loads in vLLM: in a
// multiple of 32/b and of the group size (group_size ≤ 0: per channel), out a multiple of 8.
bool gptq_packable(int64_t out, int64_t in, int bits, int64_t group_size);

// Packs one linear (any grid; the writer only passes symmetric ones). Requires
// gptq_packable(out, in, bits, 0); a last partial group is allowed here (n_groups = ceil(in/g)).
GptqTensors gptq_pack(const QuantizedLinear& l);

// Writes `q` as a GPTQ directory at out_dir (see Note [gptq export]). Throws StatusError: invalid
// for asymmetric codes, bit widths other than 4 and 8, mixed settings or unquantized weights; io
// for a full disk or unusable path; cancelled when o.progress asks to stop.
ExportReport write_gptq_export(const QuantizedModel& q, const std::string& out_dir, const ExportOptions& o);

}  // namespace ostq
