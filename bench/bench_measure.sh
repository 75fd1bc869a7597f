#!/usr/bin/env bash
# bench_measure: what `iopsd measure` (proc backend) costs over running a
# command plainly: the fixed cost on `true`, and the overhead on ~1 s I/O
# workloads. Uses hyperfine; prints a markdown table for docs/measure.md.
#
#   bench/bench_measure.sh [BUILD_DIR]      (default: build)
set -euo pipefail
build=${1:-build}
iopsd=$(realpath "$build/iopsd")
command -v hyperfine >/dev/null || { echo "bench_measure: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

dd if=/dev/zero of="$tmp/src" bs=1M count=256 status=none
cat "$tmp/src" >/dev/null

run() { # name, runs, warmup, command...
    local name=$1 runs=$2 warm=$3; shift 3
    hyperfine -N --runs "$runs" --warmup "$warm" --export-json "$tmp/$name-plain.json" -- "$*" >/dev/null
    hyperfine -N --runs "$runs" --warmup "$warm" --export-json "$tmp/$name-iopsd.json" \
        -- "$iopsd measure -q --backend proc -- $*" >/dev/null
}

run true 300 20 true
run ddnull 15 2 dd if=/dev/zero of=/dev/null bs=4096 count=2000000 status=none
run ddcache 15 2 dd if="$tmp/src" of=/dev/null bs=4096 status=none
run cpwrite 15 2 dd if="$tmp/src" of="$tmp/dst" bs=64k status=none

/usr/bin/python3 - "$tmp" <<'PY'
import json, sys, os
tmp = sys.argv[1]
print("| workload | plain (median) | iopsd measure (median) | difference | overhead |")
print("|---|---|---|---|---|")
names = {"true": "`true` (fixed cost)",
         "ddnull": "`dd` /dev/zero -> /dev/null, 2M x 4 KiB (~1 s)",
         "ddcache": "`dd` read of a cached 256 MiB file, 4 KiB blocks",
         "cpwrite": "`dd` copy of 256 MiB to a new file, 64 KiB blocks"}
for n in ("true", "ddnull", "ddcache", "cpwrite"):
    p = json.load(open(os.path.join(tmp, n + "-plain.json")))["results"][0]["median"]
    i = json.load(open(os.path.join(tmp, n + "-iopsd.json")))["results"][0]["median"]
    print(f"| {names[n]} | {p*1e3:.3f} ms | {i*1e3:.3f} ms | {(i-p)*1e3:+.3f} ms | {(i-p)/p*100:+.2f} % |")
PY
