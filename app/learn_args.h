// SPDX-License-Identifier: Apache-2.0
// The learned-transform options shared by `ostq calibrate` and `ostq compare` (spinquant and
// ostquant rows): steps, batch, learning rates, loss, init, micro-batch.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/calib/calibration_request.h"

namespace ostq::cli {

using LearnArgs = LearnRequest;  // the flags fill core's request directly

// Adds --steps, --train-batch (or --batch when `batch_flag` names it), --micro-batch, --lr-rot,
// --lr-scale, --loss, --topk, --init, --val-windows, --val-every, --no-scales, --no-online-hadamard.
void add_learn_options(CLI::App* cmd, LearnArgs& a, const std::string& batch_flag);

}  // namespace ostq::cli
