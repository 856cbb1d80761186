// SPDX-License-Identifier: Apache-2.0
// llama2.c checkpoints written from a quantized model (FORMATS.md §1.1, §1.3, §6.4): v0 holds the
// dequantized weights as fp32 (run.c), v2 re-quantizes them to int8 groups (runq.c). Both store
// W_q / W_k in the Meta interleaved RoPE order.
#pragma once

#include <cstdint>
#include <string>

#include "core/export/export.h"

namespace ostq {

// Writes `q` to `out_file` as llama2.c v0 or v2 (o.llama2c_version) atomically; fills path,
// format and notes of the report (bytes and parameters are the caller's). o.tokenizer_path, a
// llama2.c tokenizer.bin (copied) or a SentencePiece .model (converted), is written beside the
// export as llama2c_tokenizer_path(out_file); other tokenizers are only mentioned in the notes.
// Throws StatusError: invalid when llama2.c cannot run the model (biases, rope_theta ≠ 10000,
// rope scaling, n_heads·head_dim ≠ dim, sliding window, online rotations, activation or KV
// quantization), io on write failures, cancelled when o.progress asks to stop.
ExportReport write_llama2c_export(const QuantizedModel& q, const std::string& out_file, const ExportOptions& o);

// "<dir>/<stem>.tokenizer.bin" for "<dir>/<stem>.bin": where the export's tokenizer goes.
std::string llama2c_tokenizer_path(const std::string& out_file);

// v2 group size: the largest power of two ≤ 64 dividing gcd(dim, hidden_dim) (FORMATS.md §1.3).
int32_t llama2c_q80_group_size(int64_t dim, int64_t hidden_dim);

}  // namespace ostq
