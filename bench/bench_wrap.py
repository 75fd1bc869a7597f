#!/usr/bin/python3
"""Benchmark of the wrap kernel (iops-python3: Debian's ipykernel behind
`iopsd kernel --wrap python3`) against the same ipykernel directly (python3).

For each kernel: the start (to the first kernel_info_reply, median of
--starts), the round trip of an empty cell (execute_request to reply and
idle, median of --cells), a cell printing 50 MB (median of --big), and for
the wrap kernel the `%%iops` fixed cost on an empty cell with each backend
and the 2,560 x 4 KiB unbuffered-write cell unmeasured and under the tracer
(median of --magic). The client is bench_kernel.py's (raw pyzmq + Session).

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_wrap.py
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kernel import Kernel  # noqa: E402


def median_ms(k, code, n):
    k.cell(code)  # warm-up
    return statistics.median(k.cell(code)[0] for _ in range(n)) * 1000


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
    rows = {}
    for name in ("python3", "iops-python3"):
        k = Kernel(name)
        starts = []
        for i in range(a.starts):
            starts.append(k.start())
            if i + 1 < a.starts:
                k.stop()
        r = rows[name] = {}
        r["start"] = statistics.median(starts) * 1000
        r["empty"] = median_ms(k, "", a.cells)
        r["print 50 MB"] = median_ms(k, big, a.big)
        r["2,560 writes"] = median_ms(k, writes, a.magic)
        if name.startswith("iops-"):
            r["%%iops proc, empty"] = median_ms(k, "%%iops --backend proc\n", a.magic)
            r["%%iops trace, empty"] = median_ms(k, "%%iops --backend trace\n", a.magic)
            r["%%iops trace, 2,560 writes"] = median_ms(k, "%%iops --backend trace\n" + writes,
                                                        a.magic)
        k.stop()
        k.close()
    os.unlink(path)
    keys = list(rows["iops-python3"])
    print("%-28s %12s %14s %8s" % ("median ms", "python3", "iops-python3", "ratio"))
    for key in keys:
        d = rows["python3"].get(key)
        w = rows["iops-python3"][key]
        print("%-28s %12s %14.2f %8s" % (key, "%.2f" % d if d else "-", w,
                                          "%.3f" % (w / d) if d else "-"))


if __name__ == "__main__":
    main()
