#!/usr/bin/python3
"""bench_trace.py: the tracer's cost next to plain runs, the proc backend and
strace, in one run on one machine (results in docs/tracer.md).

    /usr/bin/python3 bench/bench_trace.py [--build DIR] [--rounds N] [--dd-count N]

Workloads (files on /dev/shm when it exists: the ext4 journal of a VM disk
makes the metadata workload's plain time vary several-fold):
  dd     dd if=/dev/zero of=FILE bs=4k count=51200 (200 MB; the issue's 800 MB
         makes each strace run take a minute on a 2-vCPU VM; --dd-count)
  meta   tw_io meta DIR 20000: create (open+write+close), stat, rename, unlink
         20,000 files
  nonio  tw_io nonio 1000000 FILE: a million getppid(2)s, one 4 KiB write per
         thousand (most syscalls are not I/O)
  pthreads  Python, 16 threads x 1,000 os.pwrite of 4 KiB to one file (many
         tasks of one process)
  tar    sh -c 'tar cf - -C SRC . | tar xf - -C DST' on 300 files of 4 KiB
         (4 processes; DST emptied before each run)
  pydd   Python's subprocess.run starting dd bs=4k count=2560 (a parent that
         waits while its child does the I/O)
Modes: plain; iopsd --backend proc; iopsd --backend trace (co-located with
a single-task command, the default); the same with IOPSD_TRACE_PIN=0 (no
pinning); strace -f -c --seccomp-bpf -e trace=<the tracer's syscall
set, read from measure/trace_sys_linux.c>; strace -f -c.

Modes run interleaved, round by round (order reversed every other round), so
that load from other processes hits every mode alike; the table gives the
median wall time and its ratios to plain and to strace --seccomp-bpf."""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def syscall_set():
    text = open(os.path.join(SRC, "measure/trace_sys_linux.c")).read()
    names = re.findall(r"^\s+(?:D|M|MF|OPEN|NEWFD|PAIR)\(([a-z0-9_]+)", text, re.M)
    names += re.findall(r"\{__NR_([a-z0-9_]+)", text)
    return ",".join(sorted(set(names)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dd-count", type=int, default=51200)
    ap.add_argument("--only", help="comma-separated workloads")
    args = ap.parse_args()
    iopsd = os.path.join(args.build, "iopsd")
    tw = os.path.join(args.build, "tests/helpers/tw_io")
    for x in (iopsd, tw):
        if not os.access(x, os.X_OK):
            sys.exit(f"bench_trace: {x} missing (build first)")
    for tool in ("strace",):
        if not shutil.which(tool):
            sys.exit(f"bench_trace: {tool} not installed")
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    tmp = tempfile.mkdtemp(prefix="bench_trace.", dir=base)
    os.mkdir(os.path.join(tmp, "meta"))
    os.mkdir(os.path.join(tmp, "src"))
    for i in range(300):
        with open(os.path.join(tmp, "src", f"f{i:03d}"), "wb") as f:
            f.write(bytes([i % 256]) * 4096)
    sset = syscall_set()
    py = "/usr/bin/python3"
    threads_py = ("import os, sys, threading\n"
                  "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
                  "blk = b'x' * 4096\n"
                  "def w(k):\n"
                  "    for i in range(1000):\n"
                  "        os.pwrite(fd, blk, (k * 1000 + i) * 4096)\n"
                  "ts = [threading.Thread(target=w, args=(k,)) for k in range(16)]\n"
                  "[t.start() for t in ts]\n"
                  "[t.join() for t in ts]\n"
                  "os.close(fd)\n")
    pydd_py = ("import subprocess, sys\n"
               "subprocess.run(['dd', 'if=/dev/zero', 'of=' + sys.argv[1], 'bs=4k',"
               " 'count=2560', 'status=none'], check=True)\n")
    workloads = {
        "dd": [f"dd", "if=/dev/zero", f"of={tmp}/dd", "bs=4k", f"count={args.dd_count}",
               "status=none"],
        "meta": [tw, "meta", f"{tmp}/meta", "20000"],
        "nonio": [tw, "nonio", "1000000", f"{tmp}/nonio"],
        "pthreads": [py, "-c", threads_py, f"{tmp}/pthreads"],
        "tar": ["sh", "-c", f"tar cf - -C {tmp}/src . | tar xf - -C {tmp}/dst"],
        "pydd": [py, "-c", pydd_py, f"{tmp}/pydd"],
    }
    if args.only:
        workloads = {k: v for k, v in workloads.items() if k in args.only.split(",")}
    modes = {
        "plain": lambda c: (c, None),
        "iopsd proc": lambda c: ([iopsd, "measure", "--backend", "proc", "-q", "--", *c], None),
        "iopsd trace": lambda c: ([iopsd, "measure", "--backend", "trace", "-q", "--", *c], None),
        "iopsd trace, IOPSD_TRACE_PIN=0":
            lambda c: ([iopsd, "measure", "--backend", "trace", "-q", "--", *c],
                       {**os.environ, "IOPSD_TRACE_PIN": "0"}),
        "strace -f -c --seccomp-bpf (same set)":
            lambda c: (["strace", "-f", "-c", "-o", "/dev/null", "--seccomp-bpf",
                        f"-e", f"trace={sset}", *c], None),
        "strace -f -c": lambda c: (["strace", "-f", "-c", "-o", "/dev/null", *c], None),
    }
    with open("/proc/loadavg") as f:
        load0 = " ".join(f.read().split()[:3])
    times = {(w, m): [] for w in workloads for m in modes}
    try:
        for r in range(args.rounds + 1):  # round 0 is a warm-up, not kept
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            for w, cmd in workloads.items():
                for m in order:
                    argv, env = modes[m](cmd)
                    if w == "dd" and os.path.exists(f"{tmp}/dd"):
                        os.unlink(f"{tmp}/dd")
                    if w == "tar":
                        shutil.rmtree(f"{tmp}/dst", ignore_errors=True)
                        os.mkdir(f"{tmp}/dst")
                    t = time.perf_counter()
                    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
                    dt = time.perf_counter() - t
                    if r:
                        times[(w, m)].append(dt)
                    print(f"round {r} {w:6s} {m:40s} {dt:8.3f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open("/proc/loadavg") as f:
        load1 = " ".join(f.read().split()[:3])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    print(f"- machine: {os.cpu_count()} CPUs, {cpu}, {os.uname().sysname} {os.uname().release}")
    print(f"- load average before / after: {load0} / {load1}")
    print(f"- files on {'tmpfs (/dev/shm)' if base else tempfile.gettempdir()}; "
          f"{args.rounds} interleaved rounds after a warm-up; median wall time")
    print()
    for w, cmd in workloads.items():
        shown = " ".join(c if "\n" not in c else "'<script>'" for c in cmd)
        print(f"**{w}**: `{shown.replace(tmp, '$TMP')}`")
        print()
        print("| mode | median | min | max | / plain | / strace --seccomp-bpf |")
        print("|---|---:|---:|---:|---:|---:|")
        plain = statistics.median(times[(w, "plain")])
        sbpf = statistics.median(times[(w, "strace -f -c --seccomp-bpf (same set)")])
        for m in modes:
            v = times[(w, m)]
            med = statistics.median(v)
            print(f"| {m} | {med:.3f} s | {min(v):.3f} s | {max(v):.3f} s | {med / plain:.2f}x "
                  f"| {med / sbpf:.2f}x |")
        print()


if __name__ == "__main__":
    main()
