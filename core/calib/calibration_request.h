// SPDX-License-Identifier: Apache-2.0
// The calibration job's settings as a user gives them (the flags of `ostq calibrate`, the fields of
// the workbench's calibration form), and the one translation into CalibrationJobOptions that both
// front ends call — so a GUI run and a CLI run with the same settings write the same directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/calib/calibration_job.h"
#include "core/calib/learn.h"

namespace ostq {

struct Model;

// Learned-transform settings; 0 / "" mean "the method's default".
struct LearnRequest {
  int64_t steps = 100, batch = 0, micro_batch = 4, topk = 1000;
  int64_t val_windows = 0, val_every = 10;  // held-out calibration windows for selecting a step; 0 = off
  double lr_rot = 0.0, lr_scale = 0.0;
  std::string loss, init;  // kl_top | kl | ce; womi | hadamard
  bool no_scales = false, no_online_hadamard = false;
};

// Throws StatusError (invalid input) on an unknown loss or init.
LearnOptions learn_options_from(const LearnRequest& r);

struct CalibrationRequest {
  std::string method = "ostquant", bits = "4-4-4";
  std::vector<std::string> calib, overrides;
  std::string out, tokenizer;  // tokenizer "" = the one next to the model
  std::string protocol = "plain";
  int64_t seqlen = 0, calib_windows = 128;  // seqlen 0 = min(2048, context)
  int64_t batch = 4;                        // windows per forward in GPTQ and evaluation
  int64_t checkpoint_every = 10;            // 0 = off
  std::string resume;                       // checkpoint directory to continue from, "" = start afresh
  std::string eval;                         // held-out text to evaluate on, "" = none
  int64_t eval_windows = 0;
  uint64_t seed = 42;
  bool rtn = false;  // RTN instead of GPTQ for the weights after learning
  LearnRequest learn;
};

// The job's options (progress left empty). Throws StatusError (invalid input) on a bad method,
// protocol, loss or init, or a resume directory without checkpoint.pt.
CalibrationJobOptions calibration_job_options_from(const CalibrationRequest& r, const Model& model);

// The `ostq calibrate` command line for `r`, shell-quoted (for logs and to rerun a GUI run headless).
std::string calibration_command_line(const CalibrationRequest& r, const std::string& model_path);

}  // namespace ostq
