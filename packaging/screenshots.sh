#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the README's screenshots (resources/screenshots/*.png) under Xvfb with stories260K:
# the model tree with QSUR columns, the distributions before/after rotation (one PNG per chart
# pair), the QSUR chart, the calibration tab after a short real OSTQuant run (curves), the
# evaluation tab with its bundle against FP (tables and generation filled), and the export dialog
# for an RTN W4 bundle. Needs a built tree (BUILD_DIR, default build/) and a calibration text
# (OSTQ_DATA, default ../shared/data/tinystories_val.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${OSTQ_SHARED_DIR:-../shared}"
build="${BUILD_DIR:-build}"
data="${OSTQ_DATA:-$shared/data/tinystories_val.txt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bundle_args=()
if [ -x "$build/app/ostq" ]; then
  "$build/app/ostq" quantize "$shared/models/stories260K.bin" --method rtn --bits 4-16-16 --out "$tmp/stories260K-rtn-w4" --quiet >/dev/null
  bundle_args=(--bundle "$tmp/stories260K-rtn-w4")
fi
# A fresh settings directory, so a developer's saved layout does not leak into the pictures.
export XDG_CONFIG_HOME="$tmp/config"
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/ui/ostq-workbench" "$shared/models/stories260K.bin" --screenshot resources/screenshots \
  --data "$data" "${bundle_args[@]}"
ls -l resources/screenshots
