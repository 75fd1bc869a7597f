#!/usr/bin/python3
"""Cost of the live watcher of `iopsd measure` (docs/measure.md, "While it runs").

1. CPU per tick: `iopsd measure -b B -- sleep S` with the live rules on (the
   defaults: a sample every 0.25 s) and all off (no tick at all), CPU time of
   iopsd and everything under it (RUSAGE_CHILDREN), median of --runs each;
   the difference divided by the ticks in S seconds is the cost of one tick.
   The tree is one process (sleep) here; proc's sample reads /proc once per
   process of the tree plus one scan of /proc for the descendants.
2. Wall time of a workload: dd 2,560 x 4 KiB under `iopsd measure -b B` with
   the rules on and off, median of --runs (the watcher is off the hot path:
   the difference should be noise).
3. One status block: the same `sleep` run signalled 20 times (SIGUSR1), CPU
   against the unsignalled run.
Runs by hand, not in CI.

Usage: /usr/bin/python3 bench/bench_live.py [--runs N] [--sleep S]
"""
import argparse
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

OFF = ["--alert", "fd-count=off", "--alert", "iops=off", "--alert", "throughput=off"]
DD = "dd if=/dev/zero of=F bs=4096 count=2560 status=none"


def cpu_of(argv, cwd, signals=0, sleep=0.0):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, stderr=subprocess.DEVNULL)
    if signals:
        time.sleep(0.2)
        for _ in range(signals):
            p.send_signal(signal.SIGUSR1)
            time.sleep(min(0.1, max(0.0, (sleep - 0.5) / signals)))
    p.wait()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return cpu, wall


def med(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--sleep", type=float, default=3.0)
    a = ap.parse_args()
    iopsd = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "..", "build",
                                                 "iopsd"))
    work = tempfile.mkdtemp(prefix="iopsd-bench-live-")
    ticks = a.sleep / 0.25
    load = os.getloadavg()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for b in ("proc", "trace"):
        base = [iopsd, "measure", "-b", b, "-q"]
        on, off, sig = [], [], []
        for _ in range(a.runs):  # interleaved, so load drift hits both alike
            on.append(cpu_of(base + ["--", "sleep", str(a.sleep)], work)[0])
            off.append(cpu_of(base + OFF + ["--", "sleep", str(a.sleep)], work)[0])
            sig.append(cpu_of(base + OFF + ["--", "sleep", str(a.sleep)], work, signals=20,
                              sleep=a.sleep)[0])
        d = med(on) - med(off)
        print(f"{b:5}  sleep {a.sleep:g} s: CPU with live rules {med(on) * 1e3:7.2f} ms, "
              f"without {med(off) * 1e3:7.2f} ms: {d / ticks * 1e6:7.1f} us a tick "
              f"({ticks:.0f} ticks)")
        ds = med(sig) - med(off)
        print(f"{b:5}  20 status blocks (SIGUSR1): +{ds * 1e3:.2f} ms CPU, "
              f"{ds / 20 * 1e6:.1f} us each")
        won, woff = [], []
        for _ in range(a.runs):
            won.append(cpu_of(base + ["--", "sh", "-c", DD], work)[1])
            woff.append(cpu_of(base + OFF + ["--", "sh", "-c", DD], work)[1])
        print(f"{b:5}  dd 2,560 x 4 KiB wall: live rules on {med(won) * 1e3:7.2f} ms, "
              f"off {med(woff) * 1e3:7.2f} ms (median of {a.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
