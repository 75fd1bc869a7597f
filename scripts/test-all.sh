#!/usr/bin/env bash
# test-all: installs what the tests need, then builds and runs every test:
# a strict build (-Werror), the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer, the format check, and a short libFuzzer run of
# every fuzz target. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

echo "== format check"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

echo "== build and test (strict)"
cmake -S . -B build -DIOPSD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure)

echo "== build and test (address,undefined sanitizers)"
cmake -S . -B build-asan -DIOPSD_WERROR=ON -DIOPSD_SANITIZE=address,undefined \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure)

echo "== valgrind memcheck (the unit tests that do not trace or spawn kernels)"
for t in test_procfs test_report test_findings test_util test_magic test_render_golden test_render_png \
         test_timeline test_render_timeline \
         test_fsusage test_protocol; do
    (cd build/tests && IOPSD_SOURCE_DIR="$PWD/../.." IOPSD_BINARY_DIR="$PWD/.." \
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "./$t" >/dev/null) || { echo "valgrind: $t failed" >&2; exit 1; }
    echo "valgrind $t: ok"
done

echo "== fuzz (10 s per target)"
CC=clang cmake -S . -B build-fuzz -DIOPSD_FUZZ=ON -DIOPSD_WERROR=ON -DIOPSD_TESTS=ON \
    -DIOPSD_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j"$jobs"
for f in build-fuzz/tests/fuzz_*; do
    name=${f##*/fuzz_}
    corpus=tests/fuzz/corpus/$name
    work=$(mktemp -d)
    "$f" -max_total_time=10 -max_len=65536 -rss_limit_mb=2048 "$work" "$corpus" >"$work.log" 2>&1 ||
        { tail -50 "$work.log"; echo "fuzz target $name failed" >&2; exit 1; }
    rm -rf "$work" "$work.log"
    echo "fuzz_$name: ok"
done
echo "== all tests passed"
