// SPDX-License-Identifier: Apache-2.0
// Export + verification as `ostq export` and `ostq quantize --format` run it: write, reload,
// compare with the in-memory model, print sizes and the verdict.
#pragma once

#include <string>

#include "core/export/export.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq::cli {

struct ExportRunArgs {
  std::string format = "hf-dense";
  std::string out;             // "" = default_export_path(bundle, format)
  std::string tokenizer;       // carried into the export; "" = the one found next to the bundle
  std::string verify_data;     // perplexity text for the check; "" = weights and configuration only
  int64_t verify_windows = 40;
  int64_t seqlen = 0;
  int llama2c_version = 0;
  std::string dense_dtype = "fp32";
  bool quiet = false;
};

// Writes q (loaded from / saved to `source`) in args.format, verifies it and prints the report.
// Throws StatusError on a failed write or a failed verification.
void run_export(const QuantizedModel& q, const std::string& source, const Tokenizer& tokenizer,
                const std::string& tokenizer_path, const ExportRunArgs& args);

}  // namespace ostq::cli
