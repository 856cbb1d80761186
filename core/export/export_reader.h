// SPDX-License-Identifier: Apache-2.0
// Reads any export back (and our own bundle) as the quantized model it represents, and verifies
// an export against the bundle it came from: configuration, every weight, and perplexity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/perplexity.h"
#include "core/export/export.h"
#include "core/quant/methods.h"

namespace ostq {

class Tokenizer;

// What a path holds: an ostq bundle, one of the export formats, or a plain model.
enum class ArtifactKind { kBundle, kHfDense, kGptq, kCompressedTensors, kGguf, kLlama2c, kPlainHf };
const char* artifact_kind_name(ArtifactKind k);
ArtifactKind detect_artifact(const std::string& path);  // throws io when the path does not exist

struct LoadedArtifact {
  ArtifactKind kind = ArtifactKind::kPlainHf;
  QuantizedModel model;   // weights as stored (dequantized), quantizers and online ops when recorded
};
Result<LoadedArtifact> load_artifact(const std::string& path);

struct VerifyOptions {
  std::string data_file;        // perplexity text; "" = weights and configuration only
  int64_t seqlen = 0;           // 0: min(2048, context)
  int64_t max_windows = 40;
  TextProtocol protocol = TextProtocol::kPlain;
  int64_t batch = 4;
  ProgressFn progress;
};

struct VerifyReport {
  ArtifactKind kind = ArtifactKind::kPlainHf;
  std::vector<std::string> checks;   // one line per check that passed
  double max_weight_rel_diff = 0;    // max over tensors of max|ΔW| / max|W_source|
  bool weights_exact = false;        // every tensor bit-identical to the source
  double ppl_export = 0, ppl_source = 0, ppl_rel_diff = 0;
  double ppl_tolerance = 0;          // 0 when the weights are exact (then the PPL must match exactly), else 0.005
  bool evaluated = false;
  bool passed = false;
  std::string failure;               // why it did not pass
};

// Compares the export at `path` with `source` (the in-memory or reloaded bundle). InvalidInput
// when the export cannot be read or its configuration differs; a report with passed = false when
// weights or perplexity are out of tolerance.
Result<VerifyReport> verify_export(const std::string& path, const QuantizedModel& source, const Tokenizer* tokenizer,
                                   const VerifyOptions& options);

}  // namespace ostq
