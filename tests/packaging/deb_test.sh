#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the .deb from a built tree, unpacks it into a temporary root with `dpkg-deb -x` and runs
# the packaged CLI from there, so it must start with nothing but the system libraries that its
# Depends name. Registered with CTest (tests/CMakeLists.txt); exit 77 = skipped (not Debian).
# usage: deb_test.sh CMAKE CPACK BUILD_DIR SHARED_DIR HAS_GUI(0|1)
set -euo pipefail
cmake="$1" cpack="$2" build="$3" shared="${OSTQ_SHARED_DIR:-$4}" has_gui="${5:-0}"

for tool in dpkg-deb dpkg-query readelf; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not found (not a Debian system)"; exit 77; }
done
fail() { echo "FAIL: $*"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Install what is built and package that tree: plain `cpack` would first build every target of
# the tree (its preinstall step), which a test must not do. Same CPackConfig, metadata and Depends.
"$cmake" --install "$build" --prefix "$tmp/stage/usr" --strip >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install"; }
(cd "$build" && "$cpack" -G DEB -B "$tmp/out" -D CPACK_INSTALL_CMAKE_PROJECTS= \
   -D "CPACK_INSTALLED_DIRECTORIES=$tmp/stage;." >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack"; }
debs=("$tmp"/out/*.deb)
deb="${debs[0]}"
[ -f "$deb" ] || { cat "$tmp/cpack.log"; fail "cpack wrote no .deb"; }
echo "package $(basename "$deb"): $(stat -c %s "$deb") bytes"
dpkg-deb --field "$deb" Package Version Architecture Depends

# Every Depends entry must be satisfied here by an installed package (one of its alternatives).
IFS=',' read -ra entries <<<"$(dpkg-deb --field "$deb" Depends)"
for entry in "${entries[@]}"; do
  ok=0
  IFS='|' read -ra alternatives <<<"$entry"
  for alt in "${alternatives[@]}"; do
    name="$(sed 's/(.*//; s/[[:space:]]//g' <<<"$alt")"
    dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" && ok=1
  done
  [ "$ok" = 1 ] || fail "Depends entry '$entry' is not an installed package"
done

root="$tmp/root"
dpkg-deb -x "$deb" "$root"
ostq="$root/usr/bin/ostq"
[ -x "$ostq" ] || fail "usr/bin/ostq missing from the package"
if readelf -d "$ostq" | grep -E "R(UN)?PATH" | grep -qF "$build"; then fail "RPATH points into the build tree"; fi
if ldd "$ostq" | grep -q "not found"; then ldd "$ostq"; fail "unresolved libraries"; fi

version="$("$ostq" --version)"
echo "$version"
[[ "$version" == "ostq $(dpkg-deb --field "$deb" Version | sed 's/-[^-]*$//')" ]] || fail "--version says '$version'"

model="$shared/models/stories260K.bin"
if [ -f "$model" ]; then
  "$ostq" info "$model" | tee "$tmp/info.txt"
  grep -q "d=64 ff=172 L=5" "$tmp/info.txt" || fail "ostq info did not describe stories260K"
else
  echo "note: $model absent, ostq info not run"
fi

if [ "$has_gui" = 1 ]; then
  for f in usr/bin/ostq-workbench usr/share/applications/ostq-workbench.desktop \
           usr/share/icons/hicolor/scalable/apps/ostq-workbench.svg usr/share/metainfo/io.ostq.Workbench.metainfo.xml; do
    [ -f "$root/$f" ] || fail "$f missing from the package"
  done
  if ldd "$root/usr/bin/ostq-workbench" | grep -q "not found"; then fail "ostq-workbench: unresolved libraries"; fi
  gui_version="$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/ostq-workbench" --version)"
  echo "$gui_version"
  [[ "$gui_version" == *"$(dpkg-deb --field "$deb" Version | sed 's/-[^-]*$//')"* ]] || fail "ostq-workbench --version"
  if command -v xmllint >/dev/null; then xmllint --noout "$root/usr/share/metainfo/io.ostq.Workbench.metainfo.xml"; fi
fi
echo "PASS: $(basename "$deb") installs and runs"
