#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the README's screenshots (resources/screenshots/*.png) under Xvfb with stories260K:
# the model view and the export dialog for an RTN W4 bundle. Needs a built tree (build/).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${OSTQ_SHARED_DIR:-../shared}"
build="${BUILD_DIR:-build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$build/app/ostq" quantize "$shared/models/stories260K.bin" --method rtn --bits 4-16-16 --out "$tmp/stories260K-rtn-w4" --quiet >/dev/null
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x800x24" \
  "$build/ui/ostq-workbench" "$shared/models/stories260K.bin" --screenshot resources/screenshots --bundle "$tmp/stories260K-rtn-w4"
ls -l resources/screenshots
