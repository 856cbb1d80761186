// SPDX-License-Identifier: Apache-2.0
// Hugging Face model directories (config.json + safetensors, single or sharded) → Model.
// Tensors whose stored dtype is the compute dtype are served from the memory map without a copy.
#pragma once

#include <memory>
#include <string>

#include "core/model/model.h"

namespace ostq {

// Throws StatusError naming the directory / file on any problem.
std::shared_ptr<Model> hf_load(const std::string& dir, ComputeDType dtype);

}  // namespace ostq
