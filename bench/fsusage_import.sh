#!/bin/sh
# fsusage_import: how fast `iopsd import fs_usage` reads a large log, and its
# peak memory. Generates a log of SIZE_MB (default 1024) with tests/helpers/
# fsu_gen, imports it from a file and from a pipe, and prints the wall time,
# throughput and peak RSS (GNU time if present, else bash's time).
# Usage: bench/fsusage_import.sh [BUILD_DIR] [SIZE_MB]
set -eu
build=${1:-build}
mb=${2:-1024}
cycles=$(( mb * 1048576 / 1934 ))
log=$(mktemp /tmp/fsu-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
"$build/tests/helpers/fsu_gen" "$cycles" > "$log"
bytes=$(wc -c < "$log")
echo "log: $bytes bytes, $cycles cycles of 23 lines"
run() {
    start=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "  peak RSS %M KiB" "$@"
    else
        "$@"
    fi
    end=$(date +%s.%N)
    echo "  $(echo "$end - $start" | bc) s, $(echo "$bytes / ($end - $start) / 1048576" | bc) MiB/s"
}
echo "from a file:"
run "$build/iopsd" import fs_usage "$log" --process gen.worker -q --json /dev/null
echo "through a pipe from the generator:"
run sh -c "'$build/tests/helpers/fsu_gen' $cycles | '$build/iopsd' import fs_usage - --process gen.worker -q --json /dev/null"
