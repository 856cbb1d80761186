#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-command setup for a fresh Debian 12 machine: installs the Debian packages (idempotent,
# non-interactive), configures and builds. Then, depending on the argument:
#   packaging/setup.sh run    evaluate and generate with the default model, then open it in the
#                             workbench (when a display is available)
#   packaging/setup.sh test   run the whole test suite (what CI runs)
#   packaging/setup.sh build  only install and build
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mode="${1:-build}"
build_dir="${OSTQ_BUILD_DIR:-build}"

packages=(
  build-essential cmake pkg-config ccache
  libtorch-dev libopenblas0-pthread
  qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev
  libhdf5-dev nlohmann-json3-dev libcli11-dev
  xvfb xauth fonts-dejavu-core
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${OSTQ_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

shared="${OSTQ_SHARED_DIR:-$here/../shared}"
ostq="$build_dir/app/ostq"
case "$mode" in
  build) ;;
  test)
    export OSTQ_SHARED_DIR="$shared"
    (cd "$build_dir" && ctest --output-on-failure --timeout 900)
    ;;
  run)
    if [ -n "${OSTQ_MODEL:-}" ]; then
      model="$OSTQ_MODEL"; why="\$OSTQ_MODEL"
    elif [ -f "$shared/models/stories260K.bin" ]; then
      model="$shared/models/stories260K.bin"; why="shared stories260K"
    else
      model="$build_dir/synthetic-model"; why="synthetic model written by ostq synth"
      [ -d "$model" ] || "$ostq" synth "$model" --dim 256 --layers 4 --heads 4 --vocab 4096 --context 512 --quiet
    fi
    data="${OSTQ_DATA:-$shared/data/tinystories_val.txt}"
    if [ ! -f "$data" ]; then data="$here/README.md"; fi
    echo "== model: $model ($why)"
    "$ostq" info "$model"
    echo "== perplexity on $data"
    "$ostq" eval "$model" --data "$data" --max-windows 64
    echo "== greedy generation"
    "$ostq" generate "$model" --steps 200 --stats
    workbench="$build_dir/ui/ostq-workbench"
    if [ ! -x "$workbench" ]; then
      echo "== the workbench was not built (Qt 6 missing?); the command line above is complete"
    elif [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      echo "== opening the workbench: $workbench $model"
      "$workbench" "$model"
    else
      echo "== no display: start the workbench with  $workbench $model"
      echo "   (packaging/screenshots.sh renders its views under Xvfb)"
    fi
    ;;
  *) echo "usage: $0 [build|run|test]" >&2; exit 2 ;;
esac
