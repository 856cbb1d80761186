// SPDX-License-Identifier: Apache-2.0
// The workbench's own save format for a quantized model, so evaluation can reuse it: a Hugging
// Face directory holding the merged, dequantized weights (loadable by any HF LLaMA loader for the
// weight-only part) plus `ostq_quant.json` with what the runtime must add: the activation and
// KV-cache quantizers, the online rotations, the method and its report. The real export
// formats (GPTQ, compressed-tensors, GGUF, llama2.c) are a separate layer.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/util/progress.h"

namespace ostq {

inline constexpr const char* kQuantManifestName = "ostq_quant.json";

// Writes `dir` atomically (temporary sibling, renamed). `tokenizer_path` is carried along when
// not empty; `extra_files` (name, bytes) are written inside before the rename. Throws StatusError
// naming the directory.
void quantized_model_save(const QuantizedModel& q, const std::string& dir, const std::string& tokenizer_path,
                          const ProgressFn& progress = {},
                          const std::vector<std::pair<std::string, std::string>>& extra_files = {});

// True when `path` is a directory with an ostq_quant.json.
bool is_quantized_model_dir(const std::string& path);

// Loads a directory written by quantized_model_save; errors name the file and the problem.
Result<QuantizedModel> quantized_model_load(const std::string& dir, const LoadOptions& options = {});

// JSON of a quantizer configuration and back (also used in reports).
std::string quant_config_to_json(const QuantConfig& config);
QuantConfig quant_config_from_json(const std::string& json, const std::string& what);

}  // namespace ostq
