// SPDX-License-Identifier: Apache-2.0
// llama2.c checkpoint layouts (FORMATS.md §1): header parsing and the byte offset of every tensor,
// validated against the file size before any weight is touched. Torch-free (fuzzed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/io/model_config.h"

namespace ostq {

// One stored array, e.g. "wq" for all layers: `count` fp32 values (v0/v1) or, for v2, one entry
// per layer with int8 codes followed by fp32 group scales.
struct Llama2cTensor {
  std::string name;       // token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls
  uint64_t offset = 0;    // absolute byte offset of the first element
  uint64_t numel = 0;     // elements over all layers
  bool quantized = false; // v2 Q8_0: per layer `numel/L` int8 codes, then numel/L/GS fp32 scales
};

struct Llama2cLayout {
  int version = 0;               // 0 (legacy), 1 (fp32), 2 (Q8_0)
  ModelConfig config;            // interleaved RoPE layout on disk
  bool shared_classifier = true;
  int32_t group_size = 0;        // v2 only
  std::vector<Llama2cTensor> tensors;
  uint64_t expected_size = 0;
  const Llama2cTensor& tensor(const std::string& name) const;  // throws internal when absent
};

// Parses the header at data[0..size) and computes every offset; throws StatusError naming
// `file_name` on a wrong magic, bad header values, or a size that does not match the header.
Llama2cLayout llama2c_parse(const uint8_t* data, size_t size, const std::string& file_name);

// Writes a legacy v0 fp32 checkpoint header (7 int32) for `config` into `out` (28 bytes).
void llama2c_write_v0_header(const ModelConfig& config, bool shared_classifier, uint8_t out[28]);

}  // namespace ostq
