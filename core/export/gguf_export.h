// SPDX-License-Identifier: Apache-2.0
// GGUF v3 export for llama.cpp (FORMATS.md §6.3) and the reader that loads such a file back as a
// dequantized Model for `ostq verify`.
//
// Note [GGUF export types]: the integer codes of each linear (quantized_linear.h) are transcoded
// without re-quantizing, so the only loss is the fp16 rounding of the block scales:
//   - int ≤ 4 bits, symmetric   → Q4_0: d = fp16(s) for every 32-block, nibble = code + 8;
//   - int ≤ 4 bits, asymmetric  → Q4_1: d = fp16(s), m = fp16(−s·zero), nibble = code;
//   - int 5…8 bits, symmetric, and 5…7 bits asymmetric → Q8_0 with qs = code − zero, d = fp16(s);
// provided in_features and the group size (when grouped) are multiples of 32, so that no 32-block
// straddles two groups. Everything else — in_features not a multiple of 32 (stories260K's
// ffn_down, 172), group sizes like 16, asymmetric 8-bit, or a model without quantization grids —
// is written as F16 of the dequantized weight, with a note in the report. Norms are F32,
// token_embd / output F16 (output omitted when tied). W_q / W_k rows are permuted to the Meta
// interleaved RoPE order that llama.cpp's llama architecture expects, and back on load.
// llama3 RoPE scaling is written as llama.cpp's rope_freqs.weight plus ostq.rope_scaling.* keys
// that the reader uses to restore the exact config.
#pragma once

#include <memory>
#include <string>

#include "core/export/export.h"

namespace ostq {

// Writes `q` as one GGUF file (atomically, after checking free space). Fills report.path,
// report.format and report.notes (F16 fallbacks, missing tokenizer). Throws StatusError:
// unsupported for q/k/v biases (qwen2), online rotations or activation / KV quantization;
// invalid for a tokenizer whose size differs from the model's vocabulary; io for disk errors.
ExportReport write_gguf_export(const QuantizedModel& q, const std::string& out_file, const ExportOptions& o);

// Reads a llama-architecture GGUF file (F32, F16, BF16, Q4_0, Q4_1, Q8_0 tensors) as an fp32
// Model in the engine's conventions (rotate_half q/k rows). Throws StatusError naming the file.
std::shared_ptr<Model> gguf_load(const std::string& path);

// True when the file exists and starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

}  // namespace ostq
