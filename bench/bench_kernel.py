#!/usr/bin/python3
"""Benchmark of the native bash kernel against Debian's ipykernel.

For each kernel spec: (1) start time, from launching the kernel process to
the first kernel_info_reply (repeated --starts times, median); (2) the round
trip of an empty cell, from sending execute_request to having both the
execute_reply and the idle status (median of --cells). The client is raw
pyzmq plus jupyter_client's Session (for signing), so that client overhead
stays small. Also times `bash -c ''`-style cost: bash running an empty
command in an already-running shell is what the kernel cannot go below.

Usage: JUPYTER_PATH=build/jupyter /usr/bin/python3 bench/bench_kernel.py
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.session import Session


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Kernel:
    def __init__(self, name):
        spec = KernelSpecManager().get_kernel_spec(name)
        self.key = uuid.uuid4().hex
        ports = free_ports(5)
        self.conn = dict(zip(["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"],
                             ports), ip="127.0.0.1", transport="tcp", key=self.key,
                         signature_scheme="hmac-sha256", kernel_name=name)
        fd, self.path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(self.conn, f)
        self.argv = [a.replace("{connection_file}", self.path) for a in spec.argv]
        if self.argv[0] in ("python", "python3"):
            self.argv[0] = sys.executable
        self.session = Session(key=self.key.encode())
        self.ctx = zmq.Context()

    def start(self):
        """Launches the kernel; returns seconds to the first kernel_info_reply."""
        self.shell = self.ctx.socket(zmq.DEALER)
        # Retry the connection every millisecond (default 100 ms) so the
        # measured start is the kernel's, not the client's reconnect timer.
        self.shell.setsockopt(zmq.RECONNECT_IVL, 1)
        self.shell.setsockopt(zmq.IDENTITY, self.session.bsession)
        self.shell.connect("tcp://127.0.0.1:%d" % self.conn["shell_port"])
        self.iopub = self.ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.RECONNECT_IVL, 1)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect("tcp://127.0.0.1:%d" % self.conn["iopub_port"])
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        # Ask until answered (the kernel may not be listening yet).
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        while True:
            self.session.send(self.shell, "kernel_info_request", {})
            if poller.poll(5):
                msg = self.recv(self.shell)
                if msg["msg_type"] == "kernel_info_reply":
                    dt = time.perf_counter() - t0
                    break
        # swallow late replies to the repeated requests, and let iopub settle
        time.sleep(0.3)
        while poller.poll(0):
            self.recv(self.shell)
        self.drain_iopub()
        return dt

    def recv(self, sock):
        idents, frames = self.session.feed_identities(sock.recv_multipart(copy=True))
        return self.session.deserialize(frames)

    def drain_iopub(self):
        while self.iopub.poll(50):
            self.iopub.recv_multipart()

    @staticmethod
    def peek(frames):
        """(msg_type, parent msg_id, content, header date string) from raw
        frames, without checking the signature or parsing dates: the client's
        own work stays out of the measured round trip."""
        i = frames.index(b"<IDS|MSG>")
        header = json.loads(frames[i + 2])
        parent = json.loads(frames[i + 3])
        content = json.loads(frames[i + 5])
        return header["msg_type"], parent.get("msg_id"), content, header["date"]

    def cell(self, code=""):
        """(seconds from execute_request to having the reply and the idle
        status, seconds between the kernel's execute_input and execute_reply
        headers: the time the cell itself took inside the kernel)."""
        msg = self.session.msg("execute_request",
                               {"code": code, "silent": False, "store_history": True,
                                "user_expressions": {}, "allow_stdin": False,
                                "stop_on_error": True})
        frames = self.session.serialize(msg)
        msg_id = msg["header"]["msg_id"]
        t0 = time.perf_counter()
        self.shell.send_multipart(frames)
        got_reply = got_idle = False
        started = ended = None
        while not (got_reply and got_idle):
            ready = dict(self._poller().poll(10000))
            if not ready:
                raise TimeoutError("no answer to execute_request")
            if self.shell in ready:
                mtype, parent, content, date = self.peek(self.shell.recv_multipart())
                if parent == msg_id:
                    got_reply = True
                    ended = date
            if self.iopub in ready:
                mtype, parent, content, date = self.peek(self.iopub.recv_multipart())
                if parent == msg_id:
                    if mtype == "execute_input":
                        started = date
                    got_idle |= mtype == "status" and content["execution_state"] == "idle"
        dt = time.perf_counter() - t0
        inside = float("nan")
        if started and ended:
            fmt = "%Y-%m-%dT%H:%M:%S.%f"
            inside = (datetime.datetime.strptime(ended.rstrip("Z")[:26], fmt)
                      - datetime.datetime.strptime(started.rstrip("Z")[:26], fmt)).total_seconds()
        return dt, inside

    def _poller(self):
        if not hasattr(self, "_p"):
            self._p = zmq.Poller()
            self._p.register(self.shell, zmq.POLLIN)
            self._p.register(self.iopub, zmq.POLLIN)
        return self._p

    def stop(self):
        self.session.send(self.shell, "shutdown_request", {"restart": False})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.shell.close(0)
        self.iopub.close(0)
        if hasattr(self, "_p"):
            del self._p

    def close(self):
        self.ctx.term()
        os.unlink(self.path)


def cpu_seconds(pid):
    """utime + stime of pid and of its children still running (e.g. bash)."""
    tick = os.sysconf("SC_CLK_TCK")
    def one(p):
        with open("/proc/%d/stat" % p) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    total = one(pid)
    kids = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return total, sum(one(k) for k in kids)


def bash_floor(n):
    """Median seconds for an already-running bash to run an empty command and
    report back through a pipe (what the kernel's engine must do per cell)."""
    p = subprocess.Popen(["bash", "--norc", "--noprofile"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, bufsize=0)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        p.stdin.write(b"printf '%s\\n' $?\n")
        p.stdout.readline()
        times.append(time.perf_counter() - t0)
    p.stdin.close()
    p.wait()
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default="iops-bash,python3")
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--cells", type=int, default=300)
    args = ap.parse_args()
    print("machine: %s, %d CPUs, %s" % (os.uname().machine, os.cpu_count(),
                                        os.uname().release))
    print("bash alone, empty command round trip: median %.3f ms"
          % (bash_floor(args.cells) * 1e3))
    for name in args.kernels.split(","):
        k = Kernel(name)
        starts = []
        for _ in range(args.starts):
            starts.append(k.start())
            k.stop()
        k.start()
        for _ in range(20):
            k.cell()
        cpu0 = cpu_seconds(k.proc.pid)
        pairs = [k.cell() for _ in range(args.cells)]
        cpu1 = cpu_seconds(k.proc.pid)
        cells = [p[0] for p in pairs]
        inside = [p[1] for p in pairs]
        k.stop()
        k.close()
        print("%-10s start to first kernel_info_reply: median %.1f ms (min %.1f, max %.1f, n=%d)"
              % (name, statistics.median(starts) * 1e3, min(starts) * 1e3, max(starts) * 1e3,
                 len(starts)))
        print("%-10s empty cell round trip: median %.3f ms (p10 %.3f, p90 %.3f, n=%d)"
              % (name, statistics.median(cells) * 1e3,
                 statistics.quantiles(cells, n=10)[0] * 1e3,
                 statistics.quantiles(cells, n=10)[-1] * 1e3, len(cells)))
        print("%-10s of which execute_input -> execute_reply inside the kernel: median %.3f ms; "
              "the rest (messages, transport, client): median %.3f ms"
              % (name, statistics.median(inside) * 1e3,
                 statistics.median(c - i for c, i in pairs) * 1e3))
        print("%-10s CPU per cell: kernel process %.3f ms, its children (bash) %.3f ms"
              % (name, (cpu1[0] - cpu0[0]) * 1e3 / len(cells),
                 (cpu1[1] - cpu0[1]) * 1e3 / len(cells)))


if __name__ == "__main__":
    main()
