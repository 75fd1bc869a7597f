"""`iopsd measure --pid`: windows on processes that already run.

tests/helpers/tw_loopw writes 4 KiB to its own file about every millisecond
and records, in a shared mapping (no I/O call of its own), how many writes
completed and when each one returned (CLOCK_REALTIME). A window's counts are
checked against the writes the helper recorded between the report's
start_time and start_time + wall_seconds.

The edges: a write in flight when the window starts or ends may fall on
either side of it (the helper notes the time after the call returns; iopsd
counts the call when it enters or returns, or reads the counters a few
microseconds before or after noting the time). So the count may differ
from the helper's by that one call at each edge: |reported - recorded| <= 2.
Everything else is exact: bytes are 4,096 per write, no reads, a forked
child's 25 writes counted with --tree and never with --no-tree."""
import datetime
import json
import mmap
import os
import select
import signal
import struct
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.path.join(BIN, "iopsd")
LOOPW = os.path.join(BIN, "tests/helpers/tw_loopw")
KIB4 = 4096
CHILD_WRITES = 25
EDGE = 2  # one call in flight at each edge of the window
EXIT_USAGE, EXIT_NO_PROCESS, EXIT_NOT_PERMITTED = 2, 3, 4


def trace_works():
    p = subprocess.run([IOPSD, "measure", "-q", "--backend", "trace", "--", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=30)
    return p.returncode == 0


TRACE = trace_works()


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


def in_vfork(pid):
    """pid is in uninterruptible sleep (D) and has a child: a parent in
    vfork waiting for its child's exec."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return False
    return bool(kids) and status_field(pid, "State").startswith("D")


class Loopw:
    """A running tw_loopw and its tally."""

    def __init__(self, d, seconds=30):
        self.file = os.path.join(d, "out")
        self.logpath = os.path.join(d, "log")
        self.p = subprocess.Popen([LOOPW, self.file, self.logpath, str(seconds)])
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.logpath) and os.path.getsize(self.logpath) > 0):
            if time.monotonic() > deadline:
                raise AssertionError("tw_loopw did not start")
            time.sleep(0.005)
        with open(self.logpath, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        while self.n() < 5:
            if time.monotonic() > deadline:
                raise AssertionError("tw_loopw does not write")
            time.sleep(0.005)

    @property
    def pid(self):
        return self.p.pid

    def n(self):
        return struct.unpack_from("<Q", self.map, 0)[0]

    def child_times(self):
        fork_ns, reaped_ns, st = struct.unpack_from("<QQQ", self.map, 8)
        return fork_ns, reaped_ns, st

    def recorded(self, t0_ns, t1_ns):
        n = min(self.n(), 1 << 17)
        times = struct.unpack_from(f"<{n}Q", self.map, 32)
        return sum(1 for t in times if t0_ns < t <= t1_ns)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        self.map.close()


def window_ns(r):
    t = datetime.datetime.strptime(r["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    start = int(t.timestamp()) * 10**9 + t.microsecond * 1000
    return start, start + int(round(r["wall_seconds"] * 1e9))


def read_line(stream, timeout=20):
    r, _, _ = select.select([stream], [], [], timeout)
    if not r:
        raise AssertionError("no line from iopsd")
    return stream.readline()


class Attach(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.d = self._dir.name
        self.helpers = []

    def tearDown(self):
        for h in self.helpers:
            h.stop()
        self._dir.cleanup()

    def loopw(self, seconds=30):
        sub = tempfile.mkdtemp(dir=self.d)
        h = Loopw(sub, seconds)
        self.helpers.append(h)
        return h

    def start(self, backend, pids, *extra):
        """iopsd on pids in the background; returns (Popen, json path)
        once it says the window has started."""
        j = os.path.join(self.d, f"r{len(os.listdir(self.d))}.json")
        p = subprocess.Popen([IOPSD, "measure", "--backend", backend, "--pid",
                              ",".join(str(x) for x in pids), "-o", os.devnull, "--json", j,
                              *extra], stderr=subprocess.PIPE, text=True)
        line = read_line(p.stderr)
        if "measuring" not in line:
            p.wait(timeout=30)
            self.fail(f"iopsd did not start: {line}")
        return p, j

    def finish(self, p, j):
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err, "")
        with open(j) as f:
            return json.load(f)

    def measure(self, backend, pids, *extra):
        return self.finish(*self.start(backend, pids, *extra))

    def run_fail(self, args, user=None):
        cmd = [IOPSD, "measure", *args]
        if user:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30, cwd=self.d)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("iopsd: "), p.stderr)
        return p.returncode, lines[0]

    def assert_counts(self, r, h, extra_writes=0):
        io = r["io"]
        t0, t1 = window_ns(r)
        rec = h.recorded(t0, t1)
        self.assertGreater(rec, 50)  # the helper wrote during the window
        self.assertLessEqual(abs(io["write_ops"] - extra_writes - rec), EDGE,
                             f"reported {io['write_ops']}, recorded {rec} + {extra_writes}")
        self.assertEqual(io["write_bytes"], io["write_ops"] * KIB4)
        self.assertEqual(io["read_ops"], 0)
        self.assertEqual(io["read_bytes"], 0)

    def assert_left_alone(self, h):
        self.assertEqual(status_field(h.pid, "TracerPid"), "0")
        # pinned to the tracer's CPU while it ran alone; its own mask is back
        self.assertEqual(status_field(h.pid, "Cpus_allowed_list"),
                         status_field(os.getpid(), "Cpus_allowed_list"))
        self.assertFalse(status_field(h.pid, "State").startswith(("t", "T")))
        n0 = h.n()
        deadline = time.monotonic() + 10
        while h.n() < n0 + 20:  # it keeps writing
            self.assertLess(time.monotonic(), deadline, "the helper stopped writing")
            time.sleep(0.01)

    # ---- windows ----

    def window(self, backend):
        h = self.loopw()
        r = self.measure(backend, [h.pid], "--duration", "1")
        self.assertEqual(r["backend"], backend)
        self.assertEqual(r["attach"], {"pids": [h.pid], "tree": True, "duration": 1.0,
                                       "ended_by": "duration"})
        self.assert_counts(r, h)
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_window_trace(self):
        self.window("trace")

    def test_window_proc(self):
        self.window("proc")

    def fork(self, backend, tree):
        h = self.loopw()
        p, j = self.start(backend, [h.pid], "--duration", "1.5", "--tree" if tree else "--no-tree")
        time.sleep(0.2)
        os.kill(h.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while h.child_times()[1] == 0:
            self.assertLess(time.monotonic(), deadline, "the child was not reaped")
            time.sleep(0.005)
        r = self.finish(p, j)
        fork_ns, reaped_ns, st = h.child_times()
        self.assertEqual(st, 0)
        t0, t1 = window_ns(r)
        self.assertTrue(t0 < fork_ns and reaped_ns < t1, "the child ran outside the window")
        self.assertEqual(os.path.getsize(h.file + ".child"), CHILD_WRITES * KIB4)
        self.assertEqual(r["attach"]["tree"], tree)
        self.assert_counts(r, h, CHILD_WRITES if tree else 0)
        if backend == "trace":
            self.assertEqual(r["processes"], 2 if tree else 1)
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_fork_trace_tree(self):
        self.fork("trace", True)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_fork_trace_no_tree(self):
        self.fork("trace", False)

    def test_fork_proc_tree(self):
        self.fork("proc", True)

    def test_fork_proc_no_tree(self):
        self.fork("proc", False)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_descriptors_before_the_window_and_exec(self):
        # The attached tracer records the descriptors open at the start by
        # number only; a child that execs inside the window keeps exactly the
        # inherited ones that were not close-on-exec (here 2 of the 5 opened).
        script = (
            "import os, subprocess, sys, time\n"
            "keep = [os.open('/etc/hostname', os.O_RDONLY) for _ in range(2)]\n"
            "for fd in keep: os.set_inheritable(fd, True)\n"
            "drop = [os.open('/etc/hostname', os.O_RDONLY) for _ in range(3)]\n"
            "print(os.getpid(), flush=True)\n"
            "sys.stdin.readline()\n"
            "os.pread(keep[1], 1, 0)\n"
            "c = subprocess.Popen(['sleep', '30'], close_fds=False, stdin=subprocess.DEVNULL)\n"
            "print(c.pid, flush=True)\n"
            "time.sleep(30)\n")
        h = subprocess.Popen(["/usr/bin/python3", "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        child = None
        try:
            pid = int(read_line(h.stdout))
            p, j = self.start("trace", [pid], "--duration", "2")
            h.stdin.write("go\n")
            h.stdin.flush()
            child = int(read_line(h.stdout))
            r = self.finish(p, j)
            mine = len(os.listdir(f"/proc/{pid}/fd"))
            theirs = len(os.listdir(f"/proc/{child}/fd"))
            fds = sorted(int(x) for x in os.listdir(f"/proc/{child}/fd"))
            self.assertEqual(len(fds), 5, fds)  # 0-2 and the 2 inheritable ones
            self.assertEqual(r["processes"], 2)
            self.assertEqual(r["fds"]["start"], mine)
            self.assertEqual(r["fds"]["end"], mine + theirs)
            # a descriptor from before the window: its file is found at first use
            host = [f for f in r["files"] if f["path"] == "/etc/hostname"]
            self.assertEqual(host, [{"path": "/etc/hostname", "kind": "file", "opens": 0,
                                     "read_ops": 1, "write_ops": 0, "read_bytes": 1,
                                     "write_bytes": 0, "seeks": 0}])
        finally:
            if child:
                os.kill(child, signal.SIGKILL)
            h.kill()
            h.wait(timeout=10)
            h.stdin.close()
            h.stdout.close()

    def interrupt(self, backend):
        h = self.loopw()
        p, j = self.start(backend, [h.pid])
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        r = self.finish(p, j)
        self.assertEqual(r["attach"]["ended_by"], "interrupted")
        self.assertIsNone(r["attach"]["duration"])
        self.assert_counts(r, h)
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_interrupt_trace(self):
        self.interrupt("trace")

    def test_interrupt_proc(self):
        self.interrupt("proc")

    def exits(self, backend):
        # The helper exits after 0.8 s and stays a zombie (this process
        # does not wait for it until iopsd is done): its counters stay
        # readable, so proc is exact here too.
        h = self.loopw(seconds=0.8)
        r = self.measure(backend, [h.pid])
        self.assertEqual(r["attach"]["ended_by"], "exited")
        t0, _ = window_ns(r)
        rec = h.recorded(t0, 1 << 64)
        self.assertLessEqual(abs(r["io"]["write_ops"] - rec), 1, (r["io"], rec))
        self.assertEqual(r["io"]["write_bytes"], r["io"]["write_ops"] * KIB4)
        self.assertEqual(h.p.wait(timeout=10), 0)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_exited_trace(self):
        self.exits("trace")

    def test_exited_proc(self):
        self.exits("proc")

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_stopped_stays_stopped(self):
        h = self.loopw()
        os.kill(h.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not status_field(h.pid, "State").startswith("T"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.005)
        for backend in ("trace", "proc"):
            r = self.measure(backend, [h.pid], "--duration", "0.3")
            self.assertEqual(r["io"]["write_ops"], 0)
            self.assertEqual(status_field(h.pid, "TracerPid"), "0")
            self.assertTrue(status_field(h.pid, "State").startswith("T (stopped)"))
        os.kill(h.pid, signal.SIGCONT)
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_two_roots(self):
        a, b = self.loopw(), self.loopw()
        r = self.measure("trace", [a.pid, b.pid], "--duration", "1")
        t0, t1 = window_ns(r)
        rec = a.recorded(t0, t1) + b.recorded(t0, t1)
        self.assertLessEqual(abs(r["io"]["write_ops"] - rec), 2 * EDGE)
        self.assertEqual(r["io"]["write_bytes"], r["io"]["write_ops"] * KIB4)
        self.assertEqual(r["processes"], 2)
        self.assert_left_alone(a)
        self.assert_left_alone(b)

    def orphan(self, backend):
        # A shell that starts, during the window, a subshell which outlives it
        # (an orphan, reparented outside the tree) and runs dd: 100 writes of
        # 4 KiB. The orphan is still followed; the window ends when it exits.
        # The shell lives 0.5 s after starting it: proc must see the subshell
        # once while its parent is a member (it samples every 50 ms); a child
        # reparented before that escapes proc (docs/measure.md).
        script = os.path.join(self.d, "orphan.sh")
        out = os.path.join(self.d, "orphan.out")
        with open(script, "w") as f:
            f.write(f"sleep 1\n( sleep 0.3; dd if=/dev/zero of={out} bs=4096 count=100 "
                    "status=none; sleep 0.5; exit 0 ) &\nsleep 0.5\nexit 0\n")
        sh = subprocess.Popen(["/bin/sh", script])
        try:
            r = self.measure(backend, [sh.pid])
        finally:
            sh.wait(timeout=30)
        self.assertEqual(r["attach"]["ended_by"], "exited")
        self.assertEqual(os.path.getsize(out), 100 * KIB4)
        self.assertEqual(r["io"]["write_ops"], 100)
        self.assertEqual(r["io"]["write_bytes"], 100 * KIB4)
        # sh, `sleep 1` (running at the start), the subshell, sleep 0.3, dd,
        # sleep 0.5, the shell's sleep 0.5
        if backend == "trace":
            self.assertEqual(r["processes"], 7)

    # ---- a parent in vfork ----
    # A parent in vfork (posix_spawn, dash, Python's subprocess) cannot stop
    # until its child execs: holding that child held both for good (iopsd
    # hung at the window's start or end). Here the child blocks before its
    # exec on purpose: posix_spawn's file action opens a FIFO that has no
    # writer yet. It then runs dd: 25 reads and writes of 4 KiB.

    SPAWNER = ("import os, sys\n"
               "sys.stdin.read(1) if sys.argv[3] == 'wait' else None\n"
               "pid = os.posix_spawn('/bin/dd', ['dd', 'of=' + sys.argv[2], 'bs=4096', "
               "'count=25', 'iflag=fullblock', 'status=none'], {'LC_ALL': 'C'}, "
               "file_actions=[(os.POSIX_SPAWN_OPEN, 0, sys.argv[1], os.O_RDONLY, 0)])\n"
               "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")

    def spawner(self, wait):
        fifo, out = os.path.join(self.d, "fifo"), os.path.join(self.d, "dd.out")
        os.mkfifo(fifo)
        p = subprocess.Popen(["/usr/bin/python3", "-c", self.SPAWNER, fifo, out,
                              "wait" if wait else "go"], stdin=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p, fifo, out

    def wait_vfork(self, pid):
        """Until pid waits in vfork for its child: state D with a child.
        D alone is not enough: Python reading its modules from a cold disk
        is in D too, and CI's fresh clone once attached iopsd before the
        posix_spawn, so the window began and its end waited for ever."""
        deadline = time.monotonic() + 20
        while not in_vfork(pid):
            self.assertLess(time.monotonic(), deadline, "the spawner never waited in vfork")
            time.sleep(0.005)

    def feed(self, fifo):
        """Gives the blocked child its writer; returns the writer's fd."""
        fd = os.open(fifo, os.O_RDWR)  # never blocks, so the child's open returns
        self.addCleanup(os.close, fd)
        return fd

    def attach_vfork_parent(self, sp):
        """iopsd on the spawner waiting in vfork: it prints nothing until
        the window starts, so start() cannot be used."""
        p = subprocess.Popen([IOPSD, "measure", "--backend", "trace", "--pid", str(sp.pid),
                              "-o", os.devnull, "--json", os.path.join(self.d, "r.json")],
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_vfork_parent_at_the_start(self):
        sp, fifo, out = self.spawner(wait=False)
        self.wait_vfork(sp.pid)
        p = self.attach_vfork_parent(sp)
        time.sleep(0.5)  # iopsd has seized both and holds the child, before its exec
        fd = self.feed(fifo)
        self.assertIn("measuring", read_line(p.stderr))  # it started
        os.write(fd, b"x" * (25 * KIB4))
        r = self.finish(p, os.path.join(self.d, "r.json"))
        self.assertEqual(sp.wait(timeout=30), 0)
        self.assertEqual(os.path.getsize(out), 25 * KIB4)
        self.assertEqual(r["attach"]["ended_by"], "exited")
        self.assertEqual(r["processes"], 2)
        self.assertEqual(r["io"]["write_ops"], 25)
        self.assertEqual(r["io"]["write_bytes"], 25 * KIB4)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_vfork_parent_at_the_end(self):
        sp, fifo, out = self.spawner(wait=True)
        p, j = self.start("trace", [sp.pid])
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        sp.stdin.write(b"g")
        sp.stdin.flush()
        self.wait_vfork(sp.pid)  # in the window: the child blocks before its exec
        p.send_signal(signal.SIGINT)  # the end: iopsd holds everything to detach
        time.sleep(0.5)
        fd = self.feed(fifo)
        r = self.finish(p, j)
        self.assertEqual(r["attach"]["ended_by"], "interrupted")
        self.assertEqual(r["processes"], 2)
        self.assertEqual(r["io"]["write_ops"], 0)  # dd ran after the window
        os.write(fd, b"x" * (25 * KIB4))  # left alone: dd runs to its end
        self.assertEqual(sp.wait(timeout=30), 0)
        self.assertEqual(os.path.getsize(out), 25 * KIB4)

    def assert_untraced(self, pid):
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
        self.assertEqual(len(kids), 1)
        for p in (pid, kids[0]):
            self.assertEqual(status_field(p, "TracerPid"), "0")

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_vfork_child_that_never_execs_ctrl_c_at_the_start(self):
        # the child never gets to its exec while iopsd waits: Ctrl-C gives up
        sp, fifo, out = self.spawner(wait=False)
        self.wait_vfork(sp.pid)
        p = self.attach_vfork_parent(sp)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        self.assertRegex(err, r"^iopsd: interrupted while attaching: task [0-9]+ and others "
                              r"would not stop \(a vfork child before its exec\?\); nothing "
                              r"was measured\n$")
        self.assertEqual(os.path.getsize(os.path.join(self.d, "r.json")), 0)  # no report
        self.assert_untraced(sp.pid)
        fd = self.feed(fifo)  # left as it was: dd runs to its end
        os.write(fd, b"x" * (25 * KIB4))
        self.assertEqual(sp.wait(timeout=30), 0)
        self.assertEqual(os.path.getsize(out), 25 * KIB4)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_vfork_child_that_never_execs_ctrl_c_at_the_end(self):
        sp, fifo, out = self.spawner(wait=True)
        p, j = self.start("trace", [sp.pid])
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        sp.stdin.write(b"g")
        sp.stdin.flush()
        self.wait_vfork(sp.pid)
        p.send_signal(signal.SIGINT)  # the end: the child will not get to its exec
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)  # the second: stop waiting, report
        r = self.finish(p, j)
        self.assertEqual(r["attach"]["ended_by"], "interrupted")
        self.assertEqual(r["processes"], 2)
        self.assertEqual(r["io"]["write_ops"], 0)
        self.assert_untraced(sp.pid)
        fd = self.feed(fifo)
        os.write(fd, b"x" * (25 * KIB4))
        self.assertEqual(sp.wait(timeout=30), 0)
        self.assertEqual(os.path.getsize(out), 25 * KIB4)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_orphan_trace(self):
        self.orphan("trace")

    def test_orphan_proc(self):
        self.orphan("proc")

    # ---- refusals ----

    def dead_pid(self):
        p = subprocess.Popen(["true"])
        p.wait()
        return p.pid

    def test_no_such_process(self):
        gone = self.dead_pid()
        for backend in ("trace", "proc"):
            rc, line = self.run_fail(["--backend", backend, "--pid", str(gone), "-j",
                                      "out.json"])
            self.assertEqual(rc, EXIT_NO_PROCESS)
            self.assertEqual(line, f"iopsd: process {gone} does not exist")
            self.assertFalse(os.path.exists(os.path.join(self.d, "out.json")))

    def test_bad_list(self):
        h = self.loopw()
        rc, line = self.run_fail(["--pid", f"{h.pid},abc"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertEqual(line, "iopsd: --pid: 'abc' is not a process id (a whole number > 0)")
        gone = self.dead_pid()
        rc, line = self.run_fail(["--backend", "proc", "--pid", f"{h.pid},{gone}"])
        self.assertEqual(rc, EXIT_NO_PROCESS)
        self.assertEqual(line, f"iopsd: process {gone} does not exist")
        rc, line = self.run_fail(["--duration", "1", "--", "true"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE, "ptrace refused here")
    def test_half_attach_undone(self):
        # The helper is seized first, then the zombie is refused: the
        # helper must be let go as it was.
        h = self.loopw()
        z = subprocess.Popen(["true"])
        deadline = time.monotonic() + 10
        while not status_field(z.pid, "State").startswith("Z"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.005)
        try:
            rc, line = self.run_fail(["--backend", "trace", "--pid", f"{h.pid},{z.pid}"])
        finally:
            z.wait()
        self.assertEqual(rc, EXIT_NO_PROCESS)
        self.assertEqual(line, f"iopsd: process {z.pid} has exited (a zombie its parent has "
                         "not reaped)")
        self.assert_left_alone(h)

    @unittest.skipUnless(TRACE and os.path.exists("/usr/bin/strace"), "needs ptrace and strace")
    def test_already_traced(self):
        h = self.loopw()
        st = subprocess.Popen(["/usr/bin/strace", "-qq", "-e", "trace=none", "-o", os.devnull,
                               "-p", str(h.pid)])
        try:
            deadline = time.monotonic() + 10
            while status_field(h.pid, "TracerPid") != str(st.pid):
                self.assertLess(time.monotonic(), deadline, "strace did not attach")
                time.sleep(0.01)
            rc, line = self.run_fail(["--backend", "trace", "--pid", str(h.pid)])
        finally:
            st.terminate()  # strace detaches on SIGTERM
            st.wait(timeout=10)
        self.assertEqual(rc, EXIT_NOT_PERMITTED)
        self.assertEqual(line, f"iopsd: cannot trace process {h.pid}: it is already traced by "
                         f"process {st.pid}; use --backend proc")
        self.assert_left_alone(h)

    def test_init_refused_by_tracer(self):
        rc, line = self.run_fail(["--backend", "trace", "--pid", "1"])
        self.assertEqual(rc, EXIT_NOT_PERMITTED)
        self.assertIn("cannot trace process 1 (init)", line)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run iopsd as another user")
    def test_other_user(self):
        h = self.loopw()  # ours (root); iopsd runs as nobody
        rc, line = self.run_fail(["--backend", "trace", "--pid", str(h.pid)], user="nobody")
        self.assertEqual(rc, EXIT_NOT_PERMITTED)
        self.assertEqual(line, f"iopsd: cannot trace process {h.pid}: it belongs to another "
                         "user (uid 0)")
        rc, line = self.run_fail(["--backend", "proc", "--pid", str(h.pid)], user="nobody")
        self.assertEqual(rc, EXIT_NOT_PERMITTED)
        self.assertEqual(line, f"iopsd: cannot read /proc/{h.pid}/io: Permission denied (the "
                         "process belongs to uid 0)")
        self.assert_left_alone(h)


if __name__ == "__main__":
    unittest.main()
