// SPDX-License-Identifier: Apache-2.0
// Progress reporting that can cancel: every long core operation takes a ProgressFn and calls it
// between units of work; returning false ends the operation with a Cancelled status and no
// half-written output. Used alike by the command line (a text line on stderr) and the GUI worker.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace ostq {

// One optimiser step of a training stage (learned transforms), for live curves and logs.
struct TrainStep {
  int64_t step = 0;                 // steps completed (1-based)
  int64_t total = 0;                // steps planned
  double loss = 0.0;                // mean loss of this step's batch
  double lr_rotation = 0.0, lr_scale = 0.0;
  double grad_norm = 0.0;           // before clipping
  double orthogonality_error = 0.0; // max over rotations of max|RᵀR − I| after the step
  double tokens_per_second = 0.0;   // training tokens (student forward + backward)
  double elapsed_seconds = 0.0, eta_seconds = 0.0;
  double validation_loss = std::numeric_limits<double>::quiet_NaN();  // held-out loss; NaN: not measured this step
};

struct Progress {
  double fraction = 0.0;  // 0..1 within the current stage
  std::string stage;      // "tokenize", "evaluate", ...
  std::string detail;     // "window 12/767, 48k tok/s"
  std::optional<TrainStep> train;  // set by training stages after every step
};

using ProgressFn = std::function<bool(const Progress&)>;

// The callback for one part [lo, hi) of a longer operation: a fraction f reported to it reaches
// `outer` as lo + (hi − lo)·f; stage and training metrics pass through unchanged, and a non-empty
// `label` prefixes the detail ("label: detail"). Empty when `outer` is.
ProgressFn progress_range(const ProgressFn& outer, double lo, double hi, const std::string& label = {});

// Calls fn (if any) and throws StatusError(cancelled) when it asks to stop.
void report_progress(const ProgressFn& fn, double fraction, const std::string& stage,
                     const std::string& detail = {});

}  // namespace ostq
