#!/usr/bin/env bash
# bench_timeline: what `--timeline` costs in memory and CPU as runs grow. A
# run sleeps for S seconds sampled every I seconds; iopsd's peak RSS and CPU
# time (GNU time) are printed per sample count, with and without --timeline,
# as a markdown table for docs/timeline.md. 6,000 samples is a ten-minute run
# at 0.1 s; the store keeps at most 4,096, so peak memory must stay flat.
#
#   bench/bench_timeline.sh [BUILD_DIR]      (default: build)
set -euo pipefail
build=${1:-build}
iopsd=$(realpath "$build/iopsd")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

row() { # seconds, interval
    local s=$1 i=$2
    /usr/bin/time -f '%M %U %S' -o "$tmp/plain" "$iopsd" measure -q -b proc -j "$tmp/p.json" \
        -- sleep "$s"
    /usr/bin/time -f '%M %U %S' -o "$tmp/tl" "$iopsd" measure -q -b proc --timeline="$i" \
        -j "$tmp/t.json" -- sleep "$s"
    /usr/bin/python3 - "$tmp" "$s" "$i" <<'PY'
import json, sys
tmp, s, i = sys.argv[1:]
p = open(f"{tmp}/plain").read().split()
t = open(f"{tmp}/tl").read().split()
tl = json.load(open(f"{tmp}/t.json"))["timeline"]
print(f"| {s} s at {i} s | {tl['samples_taken']:,} | {len(tl['samples']['elapsed']):,} "
      f"| {tl['samples_decimated']:,} | {int(p[0]):,} KiB | {int(t[0]):,} KiB "
      f"| {float(t[1]) + float(t[2]):.2f} s |")
PY
}

echo "| run | samples taken | kept | decimated | peak RSS, plain | peak RSS, --timeline | CPU, --timeline |"
echo "|---|---|---|---|---|---|---|"
row 6 0.01
row 6 0.001
row 30 0.001
row 60 0.001
