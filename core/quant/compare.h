// SPDX-License-Identifier: Apache-2.0
// The method × configuration comparison behind `ostq compare` (and the GUI's comparison view):
// FP perplexity, then for every (method, W-A-KV) pair quantize and evaluate on the same windows.
// Calibration text never overlaps evaluation text: without a calibration file the first
// `calib_fraction` of the data calibrates and evaluation starts at the next whole window.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/perplexity.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

struct CompareOptions {
  std::vector<MethodSpec> methods;
  std::vector<std::string> bits;               // W-A-KV strings
  std::vector<std::string> overrides;          // quant_config_override specs applied to every config
  std::string data_path;
  std::string calib_path;                      // "" = first calib_fraction of data_path
  double calib_fraction = 0.2;
  TextProtocol protocol = TextProtocol::kPlain;
  int64_t seqlen = 0;                          // 0 = min(2048, context)
  int64_t calib_windows = 128;
  int64_t max_eval_windows = 0;                // 0 = all remaining windows
  uint64_t seed = 42;
  double smooth_alpha = 0.5;
  int64_t batch = 4;
  LearnOptions learn;                          // spinquant / ostquant settings (defaults: the spec's)
  ProgressFn progress;
};

struct CompareRow {
  std::string method, bits;
  double ppl = 0.0;
  double gap = 0.0;            // relative: ppl / fp_ppl − 1
  double quantize_seconds = 0.0, eval_seconds = 0.0;
  std::string quantizers;      // QuantConfig::describe()
  std::string learning;        // learned methods: LearnSettings::describe()
  double first_loss = 0.0, final_loss = 0.0;
  std::vector<std::string> notes;
};

struct CompareResult {
  double fp_ppl = 0.0;
  std::vector<CompareRow> rows;
  // Protocol and settings, for reports: seed, seqlen, windows, token ranges, calibration source.
  std::vector<std::pair<std::string, std::string>> settings;
};

Result<CompareResult> compare_methods(const Model& model, const Tokenizer& tokenizer, const CompareOptions& options);

}  // namespace ostq
