// SPDX-License-Identifier: Apache-2.0
// The learned-transform options shared by `ostq calibrate` and `ostq compare` (spinquant and
// ostquant rows): steps, batch, learning rates, loss, init, micro-batch.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/calib/learn.h"

namespace ostq::cli {

struct LearnArgs {
  int64_t steps = 100, batch = 0, micro_batch = 4, topk = 1000;
  double lr_rot = 0.0, lr_scale = 0.0;
  std::string loss, init;
  bool no_scales = false, no_online_hadamard = false;
};

// Adds --steps, --train-batch (or --batch when `batch_flag` names it), --micro-batch, --lr-rot,
// --lr-scale, --loss, --topk, --init, --no-scales, --no-online-hadamard.
void add_learn_options(CLI::App* cmd, LearnArgs& a, const std::string& batch_flag);
// Throws StatusError on a bad --loss / --init.
LearnOptions learn_options_from(const LearnArgs& a);

}  // namespace ostq::cli
