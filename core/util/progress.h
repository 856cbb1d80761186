// SPDX-License-Identifier: Apache-2.0
// Progress reporting that can cancel: every long core operation takes a ProgressFn and calls it
// between units of work; returning false ends the operation with a Cancelled status and no
// half-written output. Used alike by the command line (a text line on stderr) and the GUI worker.
#pragma once

#include <functional>
#include <string>

namespace ostq {

struct Progress {
  double fraction = 0.0;  // 0..1 within the current stage
  std::string stage;      // "tokenize", "evaluate", ...
  std::string detail;     // "window 12/767, 48k tok/s"
};

using ProgressFn = std::function<bool(const Progress&)>;

// Calls fn (if any) and throws StatusError(cancelled) when it asks to stop.
void report_progress(const ProgressFn& fn, double fraction, const std::string& stage,
                     const std::string& detail = {});

}  // namespace ostq
