// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the `ostq` subcommands: loading the model and its tokenizer, a progress line
// on stderr, and turning a Status into an exit code.
#pragma once

#include <memory>
#include <string>

#include "core/engine/forward.h"
#include "core/engine/runnable_model.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/progress.h"

namespace ostq::cli {

// Loads a full-precision model or throws StatusError (also for a directory written by
// `ostq quantize`: methods and analyses start from the original model).
std::shared_ptr<Model> load_model_or_throw(const std::string& path, const std::string& dtype = "fp32");

// A model ready to run (core/engine/runnable_model.h): a bundle written by `ostq quantize` with
// its run-time activation quantizers as hooks, otherwise the plain model (hooks null).
RunnableModel load_runnable_model_or_throw(const std::string& path, const std::string& dtype = "fp32");
// `--kernels auto|off` of eval / generate: with auto, a quantized model whose weights carry grids
// runs on the low-bit kernels. Returns the line saying which path runs ("" for a full-precision model).
std::string use_kernel_path(RunnableModel& runnable, const std::string& mode);
// --tokenizer when given, else the tokenizer found next to the model; throws when none.
std::unique_ptr<Tokenizer> load_tokenizer_or_throw(const std::string& tokenizer_path, const Model& model);
// A one-line progress display on stderr (rewritten in place on a terminal), never cancels.
ProgressFn stderr_progress(bool quiet);

}  // namespace ostq::cli
