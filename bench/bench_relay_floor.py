#!/usr/bin/python3
"""What a relay must cost, against what the wrap kernel costs.

Three kernels run at once, their empty cells interleaved (median of --cells
round trips, execute_request to reply and idle, bench_kernel.py's client):
  direct   Debian's ipykernel (kernel spec python3);
  floor    the same ipykernel behind relay_floor.c: one thread copying bytes
           between the client's TCP connections and the kernel's, nothing
           parsed or signed: one more process hop per message, the least
           any relay pays;
  iopsd    iops-python3 (the same ipykernel behind `iopsd kernel --wrap`).
The gap between floor and iopsd is what iopsd's design adds on top of the
unavoidable hop (docs/wrap.md, "Benchmark").

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_relay_floor.py
       [--cells N] [--rounds R]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kernel import Kernel, free_ports  # noqa: E402

PORTS = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]


class BehindFloor(Kernel):
    """A kernel started on ports of its own, with relay_floor on the ports
    the client knows."""

    def __init__(self, name, floor):
        super().__init__(name)
        self.floor = floor

    def start(self):
        taken = {self.conn[p] for p in PORTS}
        back = {}
        while len(back) < len(PORTS):  # free_ports may repeat a port already given
            for port in free_ports(len(PORTS)):
                if port not in taken and len(back) < len(PORTS):
                    taken.add(port)
                    back[PORTS[len(back)]] = port
        fd, self.back_path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({**self.conn, **back}, f)
        self.relay = subprocess.Popen(
            [self.floor] + ["%d:%d" % (self.conn[p], back[p]) for p in PORTS])
        time.sleep(0.1)  # listening
        self.argv = [a.replace(self.path, self.back_path) for a in self.argv]
        return super().start()

    def stop(self):
        super().stop()
        self.relay.kill()
        self.relay.wait()
        os.unlink(self.back_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1, help="fresh kernels each round")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="iopsd-relay-floor-")
    floor = os.path.join(tmp, "relay_floor")
    subprocess.run(["cc", "-O2", "-o", floor, os.path.join(here, "relay_floor.c")], check=True)
    print("%-6s %10s %10s %10s %12s %12s" % ("round", "direct ms", "floor ms", "iopsd ms",
                                            "floor/direct", "iopsd/direct"))
    for r in range(a.rounds):
        kernels = [Kernel("python3"), BehindFloor("python3", floor), Kernel("iops-python3")]
        for k in kernels:
            k.start()
            k.cell("")  # warm-up
        times = [[] for _ in kernels]
        for _ in range(a.cells):
            for t, k in zip(times, kernels):
                t.append(k.cell("")[0])
        for k in kernels:
            k.stop()
            k.close()
        d, f, i = (statistics.median(t) * 1000 for t in times)
        print("%-6d %10.3f %10.3f %10.3f %12.3f %12.3f" % (r + 1, d, f, i, f / d, i / d))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
