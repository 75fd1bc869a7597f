#!/usr/bin/python3
"""Benchmark of the wrap kernel (iops-python3: Debian's ipykernel behind
`iopsd kernel --wrap python3`) against the same ipykernel directly (python3).

For each kernel: the start (to the first kernel_info_reply, median of
--starts), the round trip of an empty cell (execute_request to reply and
idle, median of --cells), a cell printing 50 MB (median of --big), and for
the wrap kernel the `%%iops` fixed cost on an empty cell with each backend
and the 2,560 x 4 KiB unbuffered-write cell unmeasured and under the tracer
(median of --magic). Both kernels run at once and their cells alternate, so
the machine's other load falls on both alike. The client is
bench_kernel.py's (raw pyzmq + Session).

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_wrap.py
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kernel import Kernel  # noqa: E402


def medians_ms(kernels, code, n):
    """Median ms per kernel, the kernels' cells interleaved (the machine's
    other load then falls on both alike)."""
    for k in kernels:
        k.cell(code)  # warm-up
    times = [[] for _ in kernels]
    for _ in range(n):
        for t, k in zip(times, kernels):
            t.append(k.cell(code)[0])
    return [statistics.median(t) * 1000 for t in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--cells", type=int, default=500)
    ap.add_argument("--big", type=int, default=5)
    ap.add_argument("--magic", type=int, default=50)
    a = ap.parse_args()
    path = os.path.join(tempfile.mkdtemp(prefix="iopsd-bench-wrap-"), "w.bin")
    writes = (f"with open({path!r}, 'wb', buffering=0) as f:\n"
              "    for i in range(2560): f.write(b'x' * 4096)\n")
    big = "import sys; sys.stdout.write('x' * 50_000_000); sys.stdout.flush()"
    names = ("python3", "iops-python3")
    kernels = [Kernel(n) for n in names]
    starts = [[] for _ in kernels]
    for i in range(a.starts):
        for s, k in zip(starts, kernels):
            s.append(k.start())
            if i + 1 < a.starts:
                k.stop()
    rows = [("start", [statistics.median(s) * 1000 for s in starts])]
    rows.append(("empty", medians_ms(kernels, "", a.cells)))
    rows.append(("print 50 MB", medians_ms(kernels, big, a.big)))
    rows.append(("2,560 writes", medians_ms(kernels, writes, a.magic)))
    wrap = kernels[1:]
    rows.append(("%%iops proc, empty", [None] + medians_ms(wrap, "%%iops --backend proc\n",
                                                            a.magic)))
    rows.append(("%%iops trace, empty", [None] + medians_ms(wrap, "%%iops --backend trace\n",
                                                             a.magic)))
    rows.append(("%%iops trace, 2,560 writes",
                 [None] + medians_ms(wrap, "%%iops --backend trace\n" + writes, a.magic)))
    for k in kernels:
        k.stop()
        k.close()
    os.unlink(path)
    print("%-28s %12s %14s %8s" % ("median ms", *names, "ratio"))
    for key, (d, w) in rows:
        print("%-28s %12s %14.2f %8s" % (key, "%.2f" % d if d else "-", w,
                                          "%.3f" % (w / d) if d else "-"))


if __name__ == "__main__":
    main()
