// SPDX-License-Identifier: Apache-2.0
#include "core/util/progress.h"

#include "core/util/status.h"

namespace ostq {

void report_progress(const ProgressFn& fn, double fraction, const std::string& stage,
                     const std::string& detail) {
  if (!fn) return;
  if (!fn(Progress{fraction, stage, detail})) throw_cancelled();
}

ProgressFn progress_range(const ProgressFn& outer, double lo, double hi, const std::string& label) {
  if (!outer) return {};
  return [outer, lo, hi, label](const Progress& p) {
    Progress mapped = p;
    mapped.fraction = lo + (hi - lo) * p.fraction;
    if (!label.empty()) mapped.detail = label + ": " + p.detail;
    return outer(mapped);
  };
}

}  // namespace ostq
