#!/bin/sh
# bench_trace.sh: the tracer's cost next to plain runs, the proc backend and
# strace, in one run on one machine (docs/tracer.md has the results).
#
#   bench/bench_trace.sh [BUILD_DIR] [RUNS]
#
# Workloads:
#   dd     dd if=/dev/zero of=FILE bs=4k count=$DD_COUNT (default 51,200 = 200 MB;
#          the issue's 800 MB makes every strace run take a minute on a 2-vCPU VM)
#   meta   tw_io meta DIR 20000: create (open+write+close), stat, rename,
#          unlink 20,000 files
#   nonio  tw_io nonio 1000000 FILE: a million getppid(2)s, one 4 KiB write
#          per thousand (most syscalls are not I/O)
# Modes: plain; iopsd --backend proc; iopsd --backend trace; the same with
# IOPSD_TRACE_PIN=1; strace -f -c --seccomp-bpf -e trace=<the tracer's syscall
# set, read from measure/trace_sys_linux.c>; strace -f -c.
# Needs hyperfine and strace. Writes a markdown table per workload to
# $OUT (default bench/results/trace-<host>.md).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
runs=${2:-5}
iopsd=$build/iopsd
tw=$build/tests/helpers/tw_io
DD_COUNT=${DD_COUNT:-51200}
for x in "$iopsd" "$tw"; do
    [ -x "$x" ] || { echo "bench_trace: $x missing (build first)" >&2; exit 1; }
done
command -v hyperfine >/dev/null || { echo "bench_trace: hyperfine not installed" >&2; exit 1; }
command -v strace >/dev/null || { echo "bench_trace: strace not installed" >&2; exit 1; }

# The syscall set the tracer's seccomp filter traces, for strace -e trace=.
set_list=$(grep -oE '^[[:space:]]+(D|M|MF|OPEN|NEWFD|PAIR)\([a-z0-9_]+|\{__NR_[a-z0-9_]+' \
    "$here/measure/trace_sys_linux.c" | sed -E 's/.*[({](__NR_)?//' | sort -u | paste -sd, -)

# tmpfs when there is one: the ext4 journal of a VM disk makes the metadata
# workload's plain time vary several-fold from run to run.
base=${BENCH_DIR:-/dev/shm}
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base/bench_trace.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$here/bench/results/trace-$(hostname).md}
mkdir -p "$(dirname "$out")"

{
    echo "# bench_trace: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- files in: $tmp ($(df -T "$tmp" | awk 'NR==2 {print $2}'))"
    echo "- strace $(strace -V | head -1 | awk '{print $NF}'), hyperfine runs: $runs (+1 warm-up)"
    echo
} >"$out"

bench() {
    name=$1
    cmd=$2
    prep=$3
    echo "## $name: \`$cmd\`" >>"$out"
    echo >>"$out"
    hyperfine -N --runs "$runs" --warmup 1 --prepare "$prep" --export-markdown "$tmp/$name.md" \
        -n plain "$cmd" \
        -n proc "$iopsd measure --backend proc -q -- $cmd" \
        -n trace "$iopsd measure --backend trace -q -- $cmd" \
        -n "trace pinned" "env IOPSD_TRACE_PIN=1 $iopsd measure --backend trace -q -- $cmd" \
        -n "strace seccomp" "strace -f -c -o /dev/null --seccomp-bpf -e trace=$set_list $cmd" \
        -n "strace" "strace -f -c -o /dev/null $cmd"
    cat "$tmp/$name.md" >>"$out"
    echo >>"$out"
}

mkdir -p "$tmp/meta"
bench dd "dd if=/dev/zero of=$tmp/dd bs=4k count=$DD_COUNT status=none" "rm -f $tmp/dd"
bench meta "$tw meta $tmp/meta 20000" "true"
bench nonio "$tw nonio 1000000 $tmp/nonio" "true"
echo "results in $out"
cat "$out"
