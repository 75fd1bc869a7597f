#!/bin/bash
# A longer fuzzing campaign by hand (CI runs each target for 10 s only):
# every libFuzzer target runs SECONDS (default 300) from its committed corpus,
# then the inputs that add coverage are merged into tests/fuzz/corpus/NAME
# (libFuzzer's -merge=1 keeps the corpus minimal). A crash stops the campaign
# with the reproducer's path; fix it, add the input to the corpus, run again.
#
#   scripts/fuzz-campaign.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
CC=clang cmake -S . -B build-fuzz -DIOPSD_FUZZ=ON -DIOPSD_WERROR=ON -DIOPSD_TESTS=ON \
    -DIOPSD_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j2 >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in build-fuzz/tests/fuzz_*; do targets+=("${f##*/fuzz_}"); done
fi
for name in "${targets[@]}"; do
    f=build-fuzz/tests/fuzz_$name
    corpus=tests/fuzz/corpus/$name
    mkdir -p "$corpus"
    work=$(mktemp -d)
    before=$(ls "$corpus" | wc -l)
    if ! "$f" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" "$work" "$corpus" >"$work.log" 2>&1; then
        tail -30 "$work.log"
        echo "fuzz_$name: FAILED; reproducer(s): $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null)" >&2
        exit 1
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$work.log" | tail -1 || true)
    "$f" -merge=1 -max_len=65536 "$corpus" "$work" >"$work.merge" 2>&1
    after=$(ls "$corpus" | wc -l)
    echo "fuzz_$name: ${runs:-?} in ${secs} s; corpus $before -> $after files"
    rm -rf "$work" "$work.log" "$work.merge"
done
