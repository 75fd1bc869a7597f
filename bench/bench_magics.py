#!/usr/bin/python3
"""Benchmark of %%iops in the native bash kernel (issue 10's cost goals).

Round trip of a cell (execute_request sent -> execute_reply and idle both
received, iopub read in full), median/min/max over --cells runs, for:
  - an empty cell, unmeasured;
  - an empty cell under `%%iops -b proc` and under `%%iops -b trace`;
  - the 2,560 x 4 KiB dd under `%%iops -b trace`, against the same dd run by
    `iopsd measure --backend trace` from a shell (wall time of the process).
The fixed cost of the magic is the measured round trip minus the unmeasured
one. Runs by hand, not in CI; results go into docs/kernel.md.

With --auto: the per-cell cost of `%iops auto on` instead: an empty cell's
round trip (which then includes the one-line summary's display_data) with
auto off and with auto on, in alternating blocks of 20 cells so that drift in
the machine's load hits both alike; median/min/max of --cells each. Results
go into docs/findings.md.

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_magics.py [--cells N] [--auto]
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager

DD = "dd if=/dev/zero of=F bs=4096 count=2560 status=none"


def round_trip(kc, code):
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    got_reply = got_idle = False
    while not (got_reply and got_idle):
        if not got_reply:
            try:
                m = kc.get_shell_msg(timeout=0.0005)
                got_reply = m["parent_header"].get("msg_id") == msg_id
            except Exception:
                pass
        try:
            m = kc.get_iopub_msg(timeout=0.0005)
            if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                    and m["content"]["execution_state"] == "idle"):
                got_idle = True
        except Exception:
            pass
    return time.perf_counter() - t0


def cpu_seconds(pid):
    """CPU time of the kernel process: every thread's, living or ended, and
    its reaped children's (utime + stime + cutime + cstime, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in v[11:15]) / os.sysconf("SC_CLK_TCK")


CPU = {}  # code -> kernel CPU ms per cell, robust to a loaded machine


def series(kc, code, n, pid=None):
    round_trip(kc, code)  # warm-up
    c0 = cpu_seconds(pid) if pid else 0
    v = sorted(round_trip(kc, code) for _ in range(n))
    if pid:
        CPU[code] = (cpu_seconds(pid) - c0) / n * 1e3
    return v


def fmt(v):
    return "median %7.2f ms  min %7.2f  max %7.2f" % (statistics.median(v) * 1e3, v[0] * 1e3,
                                                      v[-1] * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--dd-runs", type=int, default=10)
    ap.add_argument("--auto", action="store_true", help="only the cost of %%iops auto on")
    a = ap.parse_args()
    if a.auto:
        return bench_auto(a.cells)
    iopsd = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "..", "build",
                                                 "iopsd"))
    work = tempfile.mkdtemp(prefix="iopsd-bench-magics-")
    km = KernelManager(kernel_name="iops-bash")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    pid = km.provisioner.process.pid
    try:
        round_trip(kc, f"cd {work}")
        plain = series(kc, "", a.cells, pid)
        proc = series(kc, "%%iops -b proc\n", a.cells, pid)
        trace = series(kc, "%%iops -b trace\n", a.cells, pid)
        dd_cell = series(kc, f"%%iops -b trace\n{DD}", a.dd_runs)
        dd_plain = series(kc, DD, a.dd_runs)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    dd_cli = []
    for _ in range(a.dd_runs + 1):
        t0 = time.perf_counter()
        subprocess.run([iopsd, "measure", "--backend", "trace", "-q", "--", "sh", "-c", DD],
                       cwd=work, check=True)
        dd_cli.append(time.perf_counter() - t0)
    dd_cli = sorted(dd_cli[1:])
    load = os.getloadavg()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"empty cell, unmeasured         {fmt(plain)}")
    print(f"empty cell, %%iops -b proc      {fmt(proc)}   (+{(statistics.median(proc) - statistics.median(plain)) * 1e3:.2f} ms)")
    print(f"empty cell, %%iops -b trace     {fmt(trace)}   (+{(statistics.median(trace) - statistics.median(plain)) * 1e3:.2f} ms)")
    print(f"dd 2,560 x 4 KiB, unmeasured   {fmt(dd_plain)}")
    print(f"dd under %%iops -b trace        {fmt(dd_cell)}")
    print(f"dd under iopsd measure (trace) {fmt(dd_cli)}")
    print("kernel CPU per empty cell: unmeasured %.2f ms, proc %.2f ms, trace %.2f ms" %
          (CPU[""], CPU["%%iops -b proc\n"], CPU["%%iops -b trace\n"]))


def bench_auto(cells):
    km = KernelManager(kernel_name="iops-bash")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    off, on = [], []
    pid = km.provisioner.process.pid
    cpu_off = cpu_on = 0.0
    try:
        round_trip(kc, "%iops auto off")
        round_trip(kc, "")  # warm-up
        block = 20
        while len(off) < cells or len(on) < cells:
            round_trip(kc, "%iops auto off")
            c0 = cpu_seconds(pid)
            off += [round_trip(kc, "") for _ in range(block)]
            cpu_off += cpu_seconds(pid) - c0
            round_trip(kc, "%iops auto on")
            round_trip(kc, "")  # the first measured cell: warm-up
            c0 = cpu_seconds(pid)
            on += [round_trip(kc, "") for _ in range(block)]
            cpu_on += cpu_seconds(pid) - c0
        round_trip(kc, "%iops auto off")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    n_off, n_on = len(off), len(on)
    off, on = sorted(off[:cells]), sorted(on[:cells])
    load = os.getloadavg()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"empty cell, %iops auto off     {fmt(off)}")
    print(f"empty cell, %iops auto on      {fmt(on)}   "
          f"(+{(statistics.median(on) - statistics.median(off)) * 1e3:.2f} ms a cell)")
    print("kernel CPU per cell: auto off %.2f ms, auto on %.2f ms" %
          (cpu_off / n_off * 1e3, cpu_on / n_on * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
