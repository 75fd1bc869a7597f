#!/usr/bin/python3
"""What a client that reads, but more slowly than the wrapped kernel writes,
receives (docs/wrap.md, "A client that reads but is behind").

A Python cell writes --flushes x 5,000,000 bytes to stdout, flushing after
each, as fast as Python can; jupyter_client is the only subscriber and reads
every message. Prints, per run: the stdout bytes it received, the seconds
from execute_request to idle, and iopsd's notice of what was shed.

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_wrap_slow_reader.py [--runs 3]
"""
import argparse
import time

from jupyter_client.manager import KernelManager


def one_run(kernel, flushes):
    km = KernelManager(kernel_name=kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        code = ("import sys\n"
                f"for i in range({flushes}):\n"
                "    sys.stdout.write('x' * 5_000_000); sys.stdout.flush()\n")
        t0 = time.monotonic()
        msg_id = kc.execute(code)
        size, notice = 0, None
        while True:
            m = kc.get_iopub_msg(timeout=120)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream":
                if m["content"]["name"] == "stdout":
                    size += len(m["content"]["text"])
                else:
                    notice = m["content"]["text"].strip()
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return size, time.monotonic() - t0, notice
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="iops-python3")
    ap.add_argument("--flushes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    for _ in range(a.runs):
        size, secs, notice = one_run(a.kernel, a.flushes)
        print(f"{size:,} of {a.flushes * 5_000_000:,} bytes in {secs:.2f} s; {notice or 'nothing shed'}")


if __name__ == "__main__":
    main()
