"""Shared checks of the hostile suite: a fresh kernel per test, and what must
hold after every attack: the kernel process is alive, its memory bounded, its
heartbeat echoes, a second client gets kernel_info and runs a cell, and a
clean shutdown exits 0 and leaves no process behind."""
import os
import queue
import random
import shutil
import signal
import socket
import struct
import tempfile
import time
import unittest

import zmq
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

KERNEL = os.environ.get("IOPSD_HOSTILE_KERNEL", "iops-bash")
WRAP_KERNEL = "iops-python3"  # `iopsd kernel --wrap python3` (tests/wrap.cmake puts its spec in build/jupyter)
SANITIZED = os.environ.get("IOPSD_SANITIZED", "0") not in ("", "0", "OFF", "FALSE")


def zmtp_connect(endpoint, socket_type, timeout=5):
    """A raw TCP connection that has done the ZMTP 3.0 NULL handshake as a
    socket_type peer: the test writes frames itself (zmtp_frame) and so pays
    nothing for what it sends, unlike a libzmq socket (an XSUB keeps every
    subscription it sends in a trie of its own)."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0")
                  + b"\0" + bytes(31))
        greeting = b""
        while len(greeting) < 64:
            chunk = s.recv(64 - len(greeting))
            if not chunk:
                raise ConnectionError("closed during the greeting")
            greeting += chunk
        prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
        s.sendall(zmtp_frame(b"\x05READY" + prop, command=True))
    except BaseException:
        s.close()
        raise
    return s


def zmtp_frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def status_kb(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...); 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


class Kernel:
    """A kernel started through jupyter_client with its stderr in a file."""

    def __init__(self, name=KERNEL, env=None, log_path=None):
        self.km = KernelManager(kernel_name=name)
        self.log_path = log_path or f"/tmp/iopsd-hostile-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        kw = {"stderr": self.log}
        if env:
            kw["env"] = dict(os.environ, **env)
        self.km.start_kernel(**kw)
        self.proc = self.km.provisioner.process
        self.pid = self.proc.pid
        self.kc = self.client()
        self.ctx = zmq.Context.instance()

    def client(self, ready=True):
        # A session of its own, as a separate frontend has: jupyter_client
        # uses the session id as the socket identity, and two clients sharing
        # one would take over each other's replies (ROUTER_HANDOVER).
        sess = Session(key=self.km.session.key,
                       signature_scheme=self.km.session.signature_scheme)
        kc = self.km.client(session=sess)
        kc.start_channels()
        if ready:  # a kernel_info round trip (queued behind a running cell)
            kc.wait_for_ready(timeout=30)
        return kc

    def conn(self):
        return self.km.get_connection_info()

    def endpoint(self, port_name):
        c = self.conn()
        if c["transport"] == "ipc":
            return f"ipc://{c['ip']}-{c[port_name]}"
        return f"tcp://{c['ip']}:{c[port_name]}"

    def stderr(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def close(self):
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        if self.km.has_kernel and self.km.is_alive():
            self.km.shutdown_kernel(now=True)
        self.log.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


def drain(kc, quiet=0.2):
    while True:
        try:
            kc.get_iopub_msg(timeout=quiet)
        except queue.Empty:
            return


def run(kc, code, timeout=30):
    """Executes code; returns (reply, stdout text, iopub messages)."""
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        rep = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if rep["parent_header"].get("msg_id") == msg_id:
            break
    msgs = []
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    out = "".join(m["content"]["text"] for m in msgs
                  if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
    return rep, out, msgs


def have_kernel(name):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        KernelSpecManager().get_kernel_spec(name)
        return True
    except NoSuchKernel:
        return False


class HostileCase(unittest.TestCase):
    """Base class: self.k is a fresh kernel; the checks below end each test."""
    rss_limit_kb = 64 * 1024  # the kernel process, after the attack
    kernel_name = KERNEL
    healthy_code = "echo healthy-$((6*7))"  # prints healthy-42

    kernel_env = None  # extra environment of the kernel process

    def setUp(self):
        self.k = Kernel(self.kernel_name, env=self.kernel_env)

    def tearDown(self):
        self.k.close()

    def assert_heartbeat(self, timeout=2.0):
        s = self.k.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.k.endpoint("hb_port"))
        try:
            s.send(b"ping-hostile")
            self.assertTrue(s.poll(int(timeout * 1000)), "no heartbeat echo")
            self.assertEqual(s.recv(), b"ping-hostile")
        finally:
            s.close()

    def assert_healthy(self, note=""):
        """Alive, bounded memory, heartbeat, and a second client is served."""
        self.assertTrue(self.k.km.is_alive(), f"kernel died {note}:\n{self.k.stderr()[-2000:]}")
        if not SANITIZED:
            self.assertLess(rss_kb(self.k.pid), self.rss_limit_kb, f"kernel RSS {note}")
        self.assert_heartbeat()
        kc = self.k.client()
        try:
            rep, out, _ = run(kc, self.healthy_code)
            self.assertEqual(rep["content"]["status"], "ok")
            self.assertEqual(out, "healthy-42\n")
        finally:
            kc.stop_channels()

    def guard_pid(self, timeout=5):
        """The kernel's guard process (kernel_guard.c): its child named
        iopsd-guard (a guard started again is named so once it runs)."""
        deadline = time.monotonic() + timeout
        while True:
            kids = [p for p in children_map().get(self.k.pid, []) if comm(p) == "iopsd-guard"
                    and alive(p)]
            if kids or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(len(kids), 1, kids)
        return kids[0]

    def assert_clean_shutdown(self):
        """shutdown_request: exit 0 within the manager's wait, no process left."""
        family = [self.k.pid] + descendants(self.k.pid)
        self.k.kc.stop_channels()
        self.k.km.shutdown_kernel(now=False)
        rc = self.k.proc.wait(timeout=10)
        self.assertEqual(rc, 0, self.k.stderr()[-2000:])
        deadline = time.monotonic() + 3
        left = family
        while time.monotonic() < deadline:
            left = [p for p in family if alive(p)]
            if not left:
                break
            time.sleep(0.05)
        self.assertEqual(left, [], "processes left after shutdown")


class WrapHostileCase(HostileCase):
    """The same checks against the wrap kernel (ipykernel behind iopsd): the
    RSS bound is iopsd's, the health cell is Python."""
    kernel_name = WRAP_KERNEL
    healthy_code = "print(f'healthy-{6*7}')"

    def setUp(self):
        if not have_kernel(WRAP_KERNEL):
            self.skipTest(f"no kernel spec {WRAP_KERNEL} (needs Debian's python3 kernel)")
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        super().setUp()

    def wrapped_pid(self):
        """The wrapped kernel: iopsd's child that runs ipykernel (others are
        the guard and orphans iopsd adopted as subreaper)."""
        kids = [p for p in children_map().get(self.k.pid, []) if alive(p) and b"ipykernel" in cmdline(p)]
        self.assertEqual(len(kids), 1, kids)
        return kids[0]



def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def with_marker(marker):
    """pids of live processes whose command line contains marker."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker.encode() in f.read() and alive(int(d)):
                    out.append(int(d))
        except OSError:
            pass
    return out


class MarkedJobs:
    """Processes a cell starts, each with a unique marker argument that /proc
    is scanned for (a HostileCase mixin). The kernel's TMPDIR and Jupyter
    runtime dir are a directory of the test's, where the kernel's private
    directories go (the front's sockets, bash's cell file, the wrapped
    kernel's connection file and sockets): nothing may be left there."""

    def setUp(self):
        self.private_tmp = tempfile.mkdtemp(prefix="iopsd-hostile-tmp-")
        self.addCleanup(shutil.rmtree, self.private_tmp, True)
        self.kernel_env = {"TMPDIR": self.private_tmp, "JUPYTER_RUNTIME_DIR": self.private_tmp}
        super().setUp()

    def assert_private_dirs_gone(self, timeout=5):
        """After the kernel's end (the guard removes them after a SIGKILL)."""
        deadline = time.monotonic() + timeout
        while os.listdir(self.private_tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {}
        for d in os.listdir(self.private_tmp):
            path = os.path.join(self.private_tmp, d)
            left[d] = sorted(os.listdir(path)) if os.path.isdir(path) else "file"
        self.assertEqual(left, {}, "the kernel's private directories were left behind")

    def new_markers(self, series, kinds):
        """Markers for kinds (sleep arguments: SERIES.TAGi), killed at cleanup."""
        tag = f"{os.getpid()}{random.randrange(10**6):06d}"
        self.markers = {kind: f"{series}.{tag}{i}" for i, kind in enumerate(kinds)}
        self.addCleanup(self.kill_markers)  # even when an assertion fails first
        return self.markers

    def wait_jobs_started(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = [k for k, v in self.markers.items() if not with_marker(v)]
            if not missing:
                break
            time.sleep(0.05)
        self.assertEqual(missing, [], "jobs did not start")

    def assert_none_left(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = {k: with_marker(v) for k, v in self.markers.items()}
            left = {k: v for k, v in left.items() if v}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(left, {}, "processes left behind")

    def kill_markers(self):
        for v in self.markers.values():
            for p in with_marker(v):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
