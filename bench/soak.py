#!/usr/bin/python3
"""Soak and fault runs (issue 9): not in CI; run by hand, figures into
docs/kernel.md.

  soak    N measured cells in one kernel (proc and trace %%iops, %iops lines,
          plain cells, in turn), each report checked for its exact counts;
          every --every cells the kernel's and bash's RSS, descriptors,
          threads and the zombies under the kernel are sampled: they must be
          flat.
  faults  the tracer under a 1,000-process fork tree and 100,000 files
          created; a traced writer killed mid-syscall; a cell printing 1 GB
          (counted as it arrives, never stored): each with the exact figure
          it must give and iopsd's peak RSS.

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/soak.py soak --cells 10000
       (--kernel iops-python3: the wrap kernel, with Python cells; "bash" in
       the figures is then the wrapped ipykernel)
       /usr/bin/python3 bench/soak.py faults [--iopsd build/iopsd]
"""
import argparse
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except FileNotFoundError:
            pass
    return out


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "-"


def run_cell(kc, code, timeout=120):
    msg_id = kc.execute(code)
    reply = None
    reports = []
    deadline = time.monotonic() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] in ("display_data", "update_display_data"):
            j = m["content"]["data"].get("application/json")
            if j:
                reports.append(j)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    while reply is None:
        r = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if r["parent_header"].get("msg_id") == msg_id:
            reply = r
    return reply["content"], reports


def soak(args):
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kpid = km.provisioner.process.pid
    d = tempfile.mkdtemp(prefix="iopsd-soak-")
    python = km.kernel_spec.language == "python"
    if python:
        # The wrap kernel: 16 unbuffered 4 KiB writes. With proc, the main
        # thread's 8-byte ZeroMQ wake-ups come on top of the writes (proc
        # cannot tell a file from an eventfd: docs/wrap.md), so its exact
        # check is on the bytes beyond them.
        w = "with open('F', 'wb', buffering=0) as f:\n    for _ in range(16): f.write(bytes(4096))"
        line = "open('F', 'wb', buffering=0).write(bytes(65536))"
        cells = [
            (f"%%iops -b proc\n{w}", "proc16"),
            (f"%%iops -b trace\n{w}", 16),
            (f"print('a')\n%iops -b trace {line}\nprint('b')", 1),
            ("print('plain')", None),
        ]
        run_cell(kc, f"import os; os.chdir({d!r})")
        engine_comm = None  # the wrapped kernel: iopsd's child running ipykernel
    else:
        dd = "dd if=/dev/zero of=F bs=4096 count=16 status=none"
        cells = [
            (f"%%iops -b proc\n{dd}", 16),
            (f"%%iops -b trace\n{dd}", 16),
            (f"echo a\n%iops -b trace {dd}\necho b", 16),
            ("echo plain", None),
        ]
        run_cell(kc, f"cd {d}")
        engine_comm = "bash"
    rows = []

    def is_engine(p):
        if state(p) == "-":
            return False
        if engine_comm:
            return open(f"/proc/{p}/comm").read().strip() == engine_comm
        with open(f"/proc/{p}/cmdline", "rb") as f:
            return b"ipykernel" in f.read()

    def sample(i):
        kids = descendants(kpid)
        bash = [p for p in kids if is_engine(p)]
        row = {"cells": i, "kernel_rss_kb": status_kb(kpid, "VmRSS"),
               "kernel_fds": fd_count(kpid), "kernel_threads": status_kb(kpid, "Threads"),
               "bash_rss_kb": status_kb(bash[0], "VmRSS") if bash else -1,
               "bash_fds": fd_count(bash[0]) if bash else -1,
               "processes": len(kids), "zombies": sum(1 for p in kids if state(p) == "Z")}
        rows.append(row)
        print(json.dumps(row), flush=True)

    t0 = time.monotonic()
    sample(0)
    bad = 0
    for i in range(1, args.cells + 1):
        code, want = cells[i % len(cells)]
        content, reports = run_cell(kc, code)
        io = reports[-1]["io"] if reports else None
        if want == "proc16":
            wrong = not io or io["write_bytes"] - 65536 != 8 * (io["write_ops"] - 16)
        elif want == 1:
            wrong = not io or (io["write_ops"], io["write_bytes"]) != (1, 65536)
        else:
            wrong = want is not None and (not io or (io["write_ops"], io["write_bytes"])
                                          != (want, want * 4096))
        if content["status"] != "ok" or wrong:
            bad += 1
            print(f"cell {i}: {content.get('status')} {reports[-1]['io'] if reports else None}",
                  file=sys.stderr)
        if i % args.every == 0:
            sample(i)
    elapsed = time.monotonic() - t0
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    shutil.rmtree(d, ignore_errors=True)
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    print(json.dumps({"kernel": args.kernel, "cells": args.cells, "wrong_reports": bad,
                      "seconds": round(elapsed, 1),
                      "ms_per_cell": round(1000 * elapsed / args.cells, 2),
                      "kernel_rss_kb_first_last": [first["kernel_rss_kb"], last["kernel_rss_kb"]],
                      "bash_rss_kb_first_last": [first["bash_rss_kb"], last["bash_rss_kb"]],
                      "max_zombies": max(r["zombies"] for r in rows),
                      "kernel_fds_set": sorted({r["kernel_fds"] for r in rows}),
                      "bash_fds_set": sorted({r["bash_fds"] for r in rows})}))
    return 1 if bad else 0


def measure_json(iopsd, cmd, backend="trace"):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.monotonic()
    p = subprocess.run([iopsd, "measure", "-b", backend, "--json", "-", "-q", "--", *cmd],
                       capture_output=True)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rep = json.loads(p.stdout) if p.stdout.strip() else None
    # ru_maxrss of children is the largest of any child so far: report it
    # only when this run raised it.
    return rep, p, wall, (after if after > before else None)


def faults(args):
    ok = True
    d = tempfile.mkdtemp(prefix="iopsd-faults-")
    try:
        # 1. 1,000 processes under the tracer: every one seen, exactly.
        rep, p, wall, rss = measure_json(args.iopsd, [
            "bash", "-c", "for i in $(seq 1000); do /bin/true & done; wait"])
        # bash, the subshell of $(seq 1000), and the 1,000 children
        good = p.returncode == 0 and rep["processes"] == 1002 and rep["processes_exact"]
        ok &= good
        print(json.dumps({"fault": "fork tree of 1,000 under the tracer", "ok": good,
                          "processes": rep and rep["processes"], "wall_s": round(wall, 2),
                          "iopsd_peak_rss_kb": rss}))
        # 2. 100,000 files created and written once each under the tracer.
        n = 100000
        prog = (f"import os\nfor i in range({n}):\n"
                f"    fd = os.open('{d}/f%d' % i, os.O_WRONLY | os.O_CREAT, 0o644)\n"
                "    os.write(fd, b'x')\n    os.close(fd)\n")
        rep, p, wall, rss = measure_json(args.iopsd, ["/usr/bin/python3", "-S", "-c", prog])
        good = (p.returncode == 0 and rep["by_kind"]["file"]["write_ops"] == n
                and rep["by_kind"]["file"]["write_bytes"] == n and rep["files_total"] >= n)
        ok &= good
        print(json.dumps({"fault": "100,000 files under the tracer", "ok": good,
                          "file_write_ops": rep and rep["by_kind"]["file"]["write_ops"],
                          "files_total": rep and rep["files_total"], "wall_s": round(wall, 2),
                          "iopsd_peak_rss_kb": rss}))
        shutil.rmtree(d)
        os.mkdir(d)
        # 3. a traced writer killed mid-syscall (SIGKILL during 1 MiB writes).
        rep, p, wall, rss = measure_json(args.iopsd, [
            "bash", "-c", f"dd if=/dev/zero of={d}/K bs=1M count=100000 status=none & "
            "sleep 0.5; kill -9 $!; wait $!; exit 0"])
        size = os.path.getsize(f"{d}/K")
        good = p.returncode == 0 and rep["io"]["write_bytes"] == size
        ok &= good
        print(json.dumps({"fault": "traced writer killed mid-syscall", "ok": good,
                          "file_size": size, "write_bytes": rep and rep["io"]["write_bytes"],
                          "wall_s": round(wall, 2)}))
        os.unlink(f"{d}/K")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if args.gigabyte:
        ok &= gigabyte_cell(args)
    return 0 if ok else 1


def gigabyte_cell(args):
    """A cell printing 1 GiB of text: every byte reaches the client (or the
    kernel says it shed output), the cell ends with idle, the kernel's peak
    RSS stays bounded."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kpid = km.provisioner.process.pid
    total = 1 << 30
    t = time.monotonic()
    msg_id = kc.execute(f"head -c {total} /dev/zero | tr '\\0' 'x' | fold -w 1023")
    got, shed, idle = 0, False, False
    while not idle:
        m = kc.get_iopub_msg(timeout=300)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            text = m["content"]["text"]
            got += len(text) - text.count("\n")
            shed |= "output" in text and "dropped" in text
        idle = m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
    wall = time.monotonic() - t
    hwm = status_kb(kpid, "VmHWM")
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    good = got == total or shed
    print(json.dumps({"fault": "cell printing 1 GiB", "ok": good, "bytes_received": got,
                      "shed_notice": shed, "wall_s": round(wall, 1), "kernel_peak_rss_kb": hwm}))
    return good


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("soak")
    s.add_argument("--cells", type=int, default=10000)
    s.add_argument("--every", type=int, default=1000)
    s.add_argument("--kernel", default="iops-bash")
    f = sub.add_parser("faults")
    f.add_argument("--iopsd", default=os.path.join(HERE, "..", "build", "iopsd"))
    f.add_argument("--kernel", default="iops-bash")
    f.add_argument("--gigabyte", action="store_true", help="also the 1 GiB cell")
    args = ap.parse_args()
    sys.exit(soak(args) if args.what == "soak" else faults(args))


if __name__ == "__main__":
    main()
