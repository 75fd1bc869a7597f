#!/usr/bin/python3
"""How to trace a wrapped ipykernel: attach for each cell, or trace it from
its start (issue 11 asks for both to be measured and one picked).

iops-python3 attaches to ipykernel's main thread for a `%%iops --backend
trace` cell (PTRACE_SYSCALL: every system call of that thread stops, entry
and exit) and leaves it alone between cells. The other design would install
a seccomp filter in ipykernel when it starts and keep a tracer attached for
its whole life: only the traced system calls (I/O, descriptors) stop, but
they stop in every cell, measured or not, in every thread and in every
process the kernel starts. That design's cost is what `iopsd measure
--backend trace` pays on a command it starts (the same filter, the same
tracer), so it is measured here as ipykernel run under it
(`python3-traced`, a kernel spec written to a temporary directory).

Cells, median ms of --cells rounds, the kernels' cells interleaved:
  empty            an empty cell
  writes           2,560 unbuffered 4 KiB writes
with each kernel unmeasured, and for iops-python3 under `%%iops -b trace`.

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_wrap_modes.py [--cells N]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def traced_spec(iopsd):
    """A kernel spec: ipykernel run by `iopsd measure --backend trace`."""
    top = tempfile.mkdtemp(prefix="iopsd-bench-modes-")
    d = os.path.join(top, "kernels", "python3-traced")
    os.makedirs(d)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump({"argv": [iopsd, "measure", "--backend", "trace", "-q", "-o", os.devnull, "--",
                            "/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                            "{connection_file}"],
                   "display_name": "Python 3 (traced from its start)", "language": "python"}, f)
    return top


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=50)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    a = ap.parse_args()
    top = traced_spec(os.path.join(os.path.abspath(a.build), "iopsd"))
    os.environ["JUPYTER_PATH"] = top + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    from bench_kernel import Kernel  # after JUPYTER_PATH: the spec manager reads it

    path = os.path.join(top, "w.bin")
    writes = (f"with open({path!r}, 'wb', buffering=0) as f:\n"
              "    for i in range(2560): f.write(b'x' * 4096)\n")
    runs = [("python3", "", "empty, plain ipykernel"),
            ("python3-traced", "", "empty, traced from its start"),
            ("iops-python3", "", "empty, iops-python3 unmeasured"),
            ("iops-python3", "%%iops --backend trace\n", "empty, %%iops -b trace"),
            ("python3", writes, "writes, plain ipykernel"),
            ("python3-traced", writes, "writes, traced from its start"),
            ("iops-python3", writes, "writes, iops-python3 unmeasured"),
            ("iops-python3", "%%iops --backend trace\n" + writes, "writes, %%iops -b trace")]
    kernels = {n: Kernel(n) for n in ("python3", "python3-traced", "iops-python3")}
    for k in kernels.values():
        k.start()
    times = [[] for _ in runs]
    for (name, code, _) in runs:  # warm-up
        kernels[name].cell(code)
    for _ in range(a.cells):
        for t, (name, code, _) in zip(times, runs):
            t.append(kernels[name].cell(code)[0])
    for k in kernels.values():
        k.stop()
        k.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, kernel {platform.release()}; "
          f"load average {' '.join('%.2f' % x for x in os.getloadavg())}")
    print("%-34s %9s %9s %9s" % ("median of %d (ms)" % a.cells, "median", "min", "max"))
    for t, (_, _, label) in zip(times, runs):
        print("%-34s %9.2f %9.2f %9.2f" % (label, statistics.median(t) * 1000, min(t) * 1000,
                                          max(t) * 1000))


if __name__ == "__main__":
    main()
