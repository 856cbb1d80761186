// SPDX-License-Identifier: Apache-2.0
// Writes a Model as a Hugging Face LLaMA-family directory (config.json, safetensors, tokenizer),
// used by `ostq synth` and `ostq convert`. The directory appears atomically: everything is
// written into a temporary sibling that is renamed at the end.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/io/dtype.h"
#include "core/model/model.h"
#include "core/util/progress.h"

namespace ostq {

struct HfWriteOptions {
  DType dtype = DType::kF32;                  // storage dtype of the weights (F32, BF16 or F16)
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  std::string tokenizer_path;                 // tokenizer to carry along (.json copied; .model copied and
                                              // converted to tokenizer.json; .bin converted); "" = none
  int64_t synthetic_vocab_tokenizer = 0;      // >0: write a generated tokenizer.json of that size instead
  std::vector<std::pair<std::string, std::string>> extra_files;  // (name, content) written inside the
                                                                 // directory before it appears
};

// Throws StatusError naming the directory on failure; `dir` must not exist or be empty.
void hf_write(const Model& model, const std::string& dir, const HfWriteOptions& options,
              const ProgressFn& progress = {});

// Carries a tokenizer into a model directory: a .json is copied as tokenizer.json; a .model is
// copied as tokenizer.model and converted to tokenizer.json; a llama2.c .bin is converted. Nothing
// for an empty path. Throws StatusError naming the tokenizer file.
void hf_write_tokenizer_files(const std::string& tokenizer_path, int64_t vocab_size, const std::string& dir);

}  // namespace ostq
