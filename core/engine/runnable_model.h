// SPDX-License-Identifier: Apache-2.0
// What `ostq eval` / `ostq generate` and the workbench's evaluation view run: a full-precision
// model, or a quantized bundle (written by quantize / calibrate, or an hf-dense export) with its
// run-time quantizers as forward hooks — on the low-bit kernels when the bundle carries weight
// grids and a kernel variant exists (`--kernels auto`), else fake-quantized.
#pragma once

#include <memory>
#include <string>

#include "core/engine/forward.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

struct RunnableModel {
  std::shared_ptr<Model> model;
  std::shared_ptr<QuantizedModel> quantized;  // null for a full-precision model
  std::shared_ptr<ForwardHooks> hooks;        // null for a full-precision model
};

// Throws StatusError naming the path (unloadable file, bad dtype).
RunnableModel runnable_model_load(const std::string& path, ComputeDType dtype = ComputeDType::kFloat32);
// Puts a quantized model on the low-bit kernels where it can (the LowBitExecutor replaces its
// fake-quant hooks). Returns the line saying which path runs: "" for a full-precision model,
// "fake-quant (why)" or the executor's summary.
std::string runnable_use_kernels(RunnableModel& runnable, bool use_kernels);
// `path` when given, else the tokenizer found next to the model, checked against its
// vocabulary. Throws StatusError (invalid input) when there is none or it does not fit.
std::unique_ptr<Tokenizer> tokenizer_for_model(const Model& model, const std::string& path = {});

}  // namespace ostq
