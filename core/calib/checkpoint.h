// SPDX-License-Identifier: Apache-2.0
// Training checkpoints: named tensors (parameters, optimiser state) plus a JSON document (step,
// settings fingerprint, loss log), in one file written atomically (temporary name, fsync,
// rename), so a killed process leaves either the previous checkpoint or the new one.
#pragma once

#include <string>

#include "core/calib/optimizers.h"

namespace ostq {

struct TrainingCheckpoint {
  TensorState tensors;
  std::string meta_json;
};

// Throws StatusError (io) naming the file, e.g. on a full disk.
void checkpoint_save(const std::string& path, const TrainingCheckpoint& checkpoint);
// Throws StatusError (io / invalid) naming the file when it is unreadable, truncated or not a
// checkpoint of ours.
TrainingCheckpoint checkpoint_load(const std::string& path);

}  // namespace ostq
