// SPDX-License-Identifier: Apache-2.0
// llama2.c checkpoints (v0 legacy, v1 fp32, v2 Q8_0) → Model. fp32 weights are served from the
// memory map; W_q / W_k are permuted from the interleaved RoPE layout to the engine's rotate_half.
#pragma once

#include <memory>
#include <string>

#include "core/model/model.h"

namespace ostq {

// Throws StatusError naming the file on any problem.
std::shared_ptr<Model> llama2c_load(const std::string& path);

}  // namespace ostq
