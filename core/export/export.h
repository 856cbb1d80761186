// SPDX-License-Identifier: Apache-2.0
// Exports of a quantized model (FORMATS.md §6) for runtimes outside the workbench, and the
// readers that load each export back as a Model so `ostq verify` can evaluate it. Every write is
// atomic (temporary sibling, renamed), checks free space first and reports the effective bits
// per parameter of what it wrote.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/io/dtype.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/util/progress.h"
#include "core/util/status.h"

namespace ostq {

enum class ExportFormat { kHfDense, kGptq, kCompressedTensors, kGguf, kLlama2c };
const char* export_format_name(ExportFormat f);  // "hf-dense", "gptq", "compressed-tensors", "gguf", "llama2c"
Result<ExportFormat> export_format_parse(const std::string& name);

struct ExportOptions {
  ExportFormat format = ExportFormat::kHfDense;
  std::string tokenizer_path;   // carried into the export (.model, .bin or tokenizer.json); "" = none
  std::string source;           // where the quantized model came from (bundle path), recorded as provenance
  int llama2c_version = 0;      // 0: fp32 dequantized; 2: Q8_0 groups
  bool size_only = false;       // plan the export and report its sizes, write nothing (the GUI shows bits
                                // per parameter before writing)
  DType dense_dtype = DType::kF32;  // hf-dense weights; compressed-tensors scales and unquantized tensors
                                    // (GPTQ always stores those in fp16, its convention)
  ProgressFn progress;
};

struct ExportReport {
  std::string path;
  ExportFormat format = ExportFormat::kHfDense;
  uint64_t bytes = 0;              // every file written (a directory: the sum, tokenizer and configs included)
  uint64_t weight_bytes = 0;       // the weight files: the file itself, or a directory's *.safetensors
  int64_t parameters = 0;          // parameters of the model (embedding, norms, linears, head once if tied)
  double bits_per_parameter = 0;   // 8·weight_bytes / parameters
  bool size_only = false;          // sizes planned, nothing written (bytes = weight_bytes, headers excluded)
  std::vector<std::string> notes;  // e.g. "ffn_down stored as F16: 172 is not a multiple of 32"
};

// Writes `q` to `out` in `o.format`. Throws StatusError: invalid when the format cannot express
// the configuration (online H_ff or activation quantization in a weight-only format, asymmetric
// codes where only symmetric are stored, ...), io when the disk is full or the path unusable.
ExportReport export_quantized(const QuantizedModel& q, const std::string& out, const ExportOptions& o);

// Where an export of `bundle` goes by default: BUNDLE.gguf, BUNDLE.bin (llama2c) or BUNDLE-<format>/.
std::string default_export_path(const std::string& bundle, ExportFormat format);

// The tokenizer to carry from a bundle: its tokenizer.model or tokenizer.bin when present (GGUF and
// llama2.c need the SentencePiece scores and piece types), else the one found in it; "" when none.
std::string bundle_tokenizer_path(const std::string& bundle);

// Parameters of a model as counted by ExportReport.
int64_t model_parameter_count(const Model& m);
// Bytes of a file, or of every regular file under a directory.
uint64_t path_total_bytes(const std::string& path);
// Bytes of a file, or of the *.safetensors files directly inside a directory.
uint64_t weight_file_bytes(const std::string& path);

}  // namespace ostq
