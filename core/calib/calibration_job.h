// SPDX-License-Identifier: Apache-2.0
// The calibration job behind `ostq calibrate` and the GUI's calibration view: one entry point that
// runs the whole OSTQuant / SpinQuant pipeline as stages reporting through one progress callback —
// data (tokenize the calibration files, seeded windows) → init → train (step, loss, learning rates,
// gradient norm, tokens/s, ETA) → merge (fp64) → weights (GPTQ or RTN) → evaluate (optional) →
// write. Cancellable at any step: the output directory appears only when everything is written
// (temporary sibling, renamed); training checkpoints make a cancelled or killed run resumable.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/eval/perplexity.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

struct CalibrationJobOptions {
  MethodSpec method;                       // spinquant or ostquant (variant words allowed)
  std::string bits = "4-4-4";              // W-A-KV
  std::vector<std::string> overrides;      // quant_config_override specs
  std::vector<std::string> calib_files;    // text, concatenated in order
  TextProtocol protocol = TextProtocol::kPlain;
  int64_t seqlen = 0;                      // 0: min(2048, context)
  int64_t calib_windows = 128;             // seeded random windows (learning and GPTQ)
  LearnOptions learn;                      // steps, batch, learning rates, loss, init, checkpoints
  uint64_t seed = 42;
  int64_t batch = 4;                       // windows per forward (GPTQ, evaluation)
  std::string eval_file;                   // "" = no evaluation
  int64_t eval_windows = 0;                // 0 = all
  std::string out_dir;                     // must not exist
  std::string tokenizer_path;              // copied into the output when set
  ProgressFn progress;
};

struct CalibrationJobResult {
  QuantizedModel quantized;
  double fp_ppl = 0.0, ppl = 0.0;          // when evaluated
  std::string out_dir;
  std::vector<std::pair<std::string, std::string>> report;  // key, value (also report.json)
};

// The default checkpoint directory of a job writing to `out_dir`.
std::string calibration_checkpoint_dir(const std::string& out_dir);

// Errors: invalid input (bad options, unreadable or empty calibration text, existing output),
// cancelled, io (disk full: nothing appears at out_dir).
Result<CalibrationJobResult> run_calibration_job(const Model& model, const Tokenizer& tokenizer,
                                                 const CalibrationJobOptions& options);

}  // namespace ostq
