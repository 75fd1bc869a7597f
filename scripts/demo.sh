#!/usr/bin/env bash
# demo: builds iopsd and measures a known workload: 2,560 writes of 4 KiB.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
out=${TMPDIR:-/tmp}/iopsd-demo
echo "\$ build/iopsd measure -- dd if=/dev/zero of=$out bs=4096 count=2560 status=none"
build/iopsd measure -- dd if=/dev/zero of="$out" bs=4096 count=2560 status=none
rm -f "$out"
