// SPDX-License-Identifier: Apache-2.0
#include "core/util/progress.h"

#include "core/util/status.h"

namespace ostq {

void report_progress(const ProgressFn& fn, double fraction, const std::string& stage,
                     const std::string& detail) {
  if (!fn) return;
  if (!fn(Progress{fraction, stage, detail})) throw_cancelled();
}

}  // namespace ostq
