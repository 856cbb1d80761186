// SPDX-License-Identifier: Apache-2.0
// hf-dense: a Hugging Face directory any LLaMA loader reads as an ordinary model, holding the
// merged, dequantized weights. The online H_ff fold is undone (W_down·Mᵀ) so the file is correct
// without any online op; what a W4A4 runtime must add back (the quantizers, H_ff, H_dh) is
// recorded in config.json's `ostq_quantization` block (documented in the README).
#pragma once

#include <memory>
#include <string>

#include "core/export/export.h"

namespace ostq {

inline constexpr const char* kOstqQuantizationKey = "ostq_quantization";

ExportReport write_hf_dense_export(const QuantizedModel& q, const std::string& out_dir, const ExportOptions& o);

// Reads an hf-dense export back as the quantized model it came from: weights as stored, and, when
// the block records them, the activation / KV quantizers with H_ff re-folded (W_down·M) and the
// online rotations switched on again. Errors name the file.
QuantizedModel hf_dense_load(const std::string& dir);

// True when `dir`/config.json carries an ostq_quantization block.
bool is_hf_dense_export(const std::string& dir);

}  // namespace ostq
