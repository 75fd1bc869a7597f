"""`iopsd measure` while the command runs: the SIGUSR1 status block and the
live alerts (docs/measure.md, docs/findings.md), on workloads that wait at a
gate (tests/helpers/livework: what they had done when the test looked is
known exactly) and on a real dd fed through a FIFO; and the fd-growth finding
over a timeline. Run by ctest with IOPSD and IOPSD_HELPERS set."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

IOPSD = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "../../build/iopsd"))
HELPERS = os.environ.get("IOPSD_HELPERS", os.path.join(os.path.dirname(IOPSD), "tests/helpers"))
LIVEWORK = os.path.join(HELPERS, "livework")
FDWORK = os.path.join(HELPERS, "fdwork")
BACKENDS = ("proc", "trace")
QUIET = ["--alert", "latency-outliers=off"]  # timing-dependent, not under test here
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
STATUS_RE = re.compile(
    r"iopsd: status at [0-9.]+ s \((\w+) backend, the run goes on\)\n"
    r"  reads   ([0-9,]+) ops  ([0-9,]+) B \([^)]*\)\n"
    r"  writes  ([0-9,]+) ops  ([0-9,]+) B \([^)]*\)\n"
    r"  now     (?:[0-9,]+ IOPS  [^\n]*/s \(over the last [0-9.]+ s\)|not known yet)\n"
    r"  open descriptors  (\d+|not known)\n")


def num(s):
    return int(s.replace(",", ""))


def wait_until(pred, what, timeout=30, show=None):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what +
                                 (": " + show() if show else ""))
        time.sleep(0.005)


class Run:
    """iopsd measure -q --json - ... with stderr read as it comes."""

    def __init__(self, backend, cmd, opts=()):
        self.p = subprocess.Popen([IOPSD, "measure", "--backend", backend, "-q", "--json", "-",
                                   *QUIET, *opts, "--", *cmd], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        self.err = b""
        self.out = b""
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stderr, "err")),
                        threading.Thread(target=self._pump, args=(self.p.stdout, "out"))]
        for t in self.threads:
            t.start()

    def _pump(self, f, name):
        while True:
            b = os.read(f.fileno(), 65536)
            if not b:
                return
            with self.lock:
                setattr(self, name, getattr(self, name) + b)

    def stderr(self):
        with self.lock:
            return self.err.decode()

    def statuses(self):
        return STATUS_RE.findall(self.stderr())

    def status(self):
        """Sends SIGUSR1 to iopsd and returns the new status block's numbers."""
        n = len(self.statuses())
        self.p.send_signal(signal.SIGUSR1)
        wait_until(lambda: len(self.statuses()) > n, "a status block", show=self.stderr)
        b, rops, rby, wops, wby, fds = self.statuses()[n]
        return {"backend": b, "read_ops": num(rops), "read_bytes": num(rby),
                "write_ops": num(wops), "write_bytes": num(wby),
                "fds": None if fds == "not known" else int(fds)}

    def finish(self, tc):
        rc = self.p.wait(timeout=60)
        for t in self.threads:
            t.join(timeout=10)
        self.p.stdout.close()
        self.p.stderr.close()
        tc.assertEqual(rc, 0, self.stderr())
        return json.loads(self.out)


def io(rep):
    return {k: rep["io"][k] for k in ("read_ops", "write_ops", "read_bytes", "write_bytes")}


def find_pid(argv):
    """The pid of the process whose command line is argv."""
    want = "\0".join(argv).encode() + b"\0"
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if f.read() == want:
                        return int(d)
            except OSError:
                pass
    return None


class Status(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.d = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def path(self, name):
        return os.path.join(self.d, name)

    def test_status_block_mid_run_is_exact_and_changes_nothing(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                out, gate = self.path(f"out-{backend}"), self.path(f"gate-{backend}")
                r = Run(backend, [LIVEWORK, "write", out, "4096", "1280", "1280", gate])
                wait_until(lambda: os.path.exists(out) and os.path.getsize(out) == 5242880,
                           "the first 1,280 writes")
                s = r.status()
                # gated: exactly what the helper had done; open: 0, 1, 2 and OUT.
                # Reads: the static C library's 2 at startup (816 bytes, proc
                # counts every descriptor; not files, so the tracer shows none)
                reads = (2, 816) if backend == "proc" else (0, 0)
                self.assertEqual(s, {"backend": backend, "read_ops": reads[0],
                                     "read_bytes": reads[1], "write_ops": 1280,
                                     "write_bytes": 5242880, "fds": 4})
                s2 = r.status()  # again: nothing moved
                self.assertEqual(s2, s)
                open(gate, "w").close()
                rep = r.finish(self)  # exit 0: the helper never saw SIGUSR1 (or a mask)
                self.assertEqual(io(rep), {"read_ops": reads[0], "write_ops": 2560,
                                           "read_bytes": reads[1], "write_bytes": 10485760})
                self.assertEqual(os.path.getsize(out), 10485760)
                self.assertNotIn("alert", r.stderr())
                self.assertEqual(len(r.statuses()), 2)
                # the same run, never signalled: the same report counts
                r = Run(backend, [LIVEWORK, "write", out, "4096", "1280", "1280", gate])
                rep2 = r.finish(self)
                self.assertEqual(io(rep2), io(rep))
                self.assertEqual(r.stderr(), "")

    def test_sigusr1_during_dd(self):
        data = bytes(range(256)) * 16 * 2560  # 10,485,760 bytes
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                fifo, out = self.path(f"fifo-{backend}"), self.path(f"dd-{backend}")
                os.mkfifo(fifo)
                dd = ["dd", f"if={fifo}", f"of={out}", "bs=4096", "count=2560",
                      "iflag=fullblock", "status=none"]
                r = Run(backend, dd)
                with open(fifo, "wb") as f:  # dd reads what we give it, when we give it
                    f.write(data[:5242880])
                    f.flush()
                    wait_until(lambda: os.path.getsize(out) == 5242880, "dd's first half")
                    s = r.status()
                    f.write(data[5242880:])
                rep = r.finish(self)
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), data)  # dd's output, untouched
                self.assertEqual(rep["exit_status"], 0)
                self.assertEqual((s["write_ops"], s["write_bytes"]), (1280, 5242880))
                self.assertEqual((rep["io"]["write_ops"], rep["io"]["write_bytes"]),
                                 (2560, 10485760))
                self.assertLessEqual(s["read_ops"], rep["io"]["read_ops"])
                self.assertLessEqual(s["read_bytes"], rep["io"]["read_bytes"])
                # unsignalled, fed at once: the same writes; with the tracer (file
                # descriptors only: the pipe is not counted) the same reads too
                os.unlink(fifo)
                os.mkfifo(fifo)
                r = Run(backend, dd)
                with open(fifo, "wb") as f:
                    f.write(data)
                rep2 = r.finish(self)
                self.assertEqual((rep2["io"]["write_ops"], rep2["io"]["write_bytes"]),
                                 (2560, 10485760))
                if backend == "trace":
                    self.assertEqual(io(rep2), io(rep))
                os.unlink(fifo)


class Alerts(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.d = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def alerts(self, r):
        return [ln for ln in r.stderr().splitlines() if ln.startswith("iopsd: alert")]

    def test_fd_count_fires_once(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                gate = os.path.join(self.d, f"gate-{backend}")
                # 0, 1, 2 and 100: the count reaches 103 at one open, whenever sampled
                r = Run(backend, [LIVEWORK, "fds", "100", gate], ["--alert", "fd-count=103"])
                wait_until(lambda: self.alerts(r), "the fd-count alert")
                self.assertRegex(self.alerts(r)[0],
                                 r"^iopsd: alert fd-count: 103 descriptors open at [0-9.]+ s, "
                                 r"at or above 103 \(--alert fd-count=VALUE\|off\)$")
                self.assertEqual(r.status()["fds"], 103)
                time.sleep(0.6)  # a few more ticks above the threshold: no new alert
                self.assertEqual(r.status()["fds"], 103)
                open(gate, "w").close()
                r.finish(self)
                self.assertEqual(len(self.alerts(r)), 1, r.stderr())

    def test_fd_count_off_stays_silent(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                gate = os.path.join(self.d, f"gate-off-{backend}")
                r = Run(backend, [LIVEWORK, "fds", "100", gate],
                        ["--alert", "fd-count=off", "--alert", "iops=0", "--alert",
                         "throughput=off"])
                pid = None

                def opened():
                    nonlocal pid
                    pid = pid or find_pid([LIVEWORK, "fds", "100", gate])
                    return pid and len(os.listdir(f"/proc/{pid}/fd")) == 103
                wait_until(opened, "100 descriptors open")
                self.assertEqual(r.status()["fds"], 103)  # the watcher saw them
                wait_until(lambda: self.alerts(r), "the iops alert")
                time.sleep(0.6)  # a few more ticks: no new alert
                open(gate, "w").close()
                r.finish(self)
                # iops=0: the first tick's rate (0 or more) crosses it, once
                self.assertEqual([a.split(":")[1] for a in self.alerts(r)], [" alert iops"])

    def test_bad_alert_values(self):
        p = subprocess.run([IOPSD, "measure", "--alert", "iops=fast", "--", "true"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "iopsd: --alert: 'fast' is not a number for iops\n")
        p = subprocess.run([IOPSD, "measure", "--help"], capture_output=True, text=True,
                           timeout=30)
        for rule in ("fd-count                 1000", "iops                     100000",
                     "throughput               1073741824", "fd-growth.fit            0.9"):
            self.assertIn(rule, p.stdout)


class FdGrowth(unittest.TestCase):
    def measure(self, *cmd, opts=()):
        p = subprocess.run([IOPSD, "measure", "--backend", "trace", "-q", "--json", "-", *QUIET,
                            *opts, "--", *cmd], capture_output=True, text=True, timeout=120,
                           env=ENV)
        self.assertEqual(p.returncode, 0, p.stderr)
        rep = json.loads(p.stdout)
        return {f["rule"]: f for f in rep["findings"]}, rep

    def test_slope_over_the_timeline(self):
        # 40 descriptors, one every 50 ms (about 20 per second), left open
        f, rep = self.measure(FDWORK, "leak", "40", "50", opts=["--timeline=0.05",
                                                                "--alert", "fd-growth=20",
                                                                "--alert", "fd-leak=off"])
        lk = rep["timeline"]["leak"]
        self.assertIn("fd-growth", f, rep["findings"])
        self.assertEqual(
            f["fd-growth"]["what"],
            "The descriptor count grew steadily over the timeline: "
            f"{lk['slope_per_second']:.2f} per second for {lk['duration_seconds']:.2f} s "
            f"(least-squares slope over {lk['samples']:,} samples, R² {lk['r2']:.2f}), "
            f"+{lk['growth']:.1f} over the run, from {lk['first']} to {lk['last']}.")
        self.assertEqual(lk["first"] + lk["net"], lk["last"])
        self.assertGreaterEqual(lk["r2"], 0.9)
        # a burst that closes again: no growth
        f, rep = self.measure(FDWORK, "burst", "100", "300", "400", "1200",
                              opts=["--timeline=0.05", "--alert", "fd-growth=20"])
        self.assertNotIn("fd-growth", f)
        self.assertEqual(rep["timeline"]["leak"]["net"], 0)

    def test_start_and_end_without_a_timeline(self):
        f, rep = self.measure(FDWORK, "leak", "80", "1", opts=["--alert", "fd-leak=off"])
        self.assertEqual(f["fd-growth"]["what"],
                         "The descriptor count grew from 3 at the start to 83 at the end (+80); "
                         "start and end counts only (--timeline gives the slope).")
        f, rep = self.measure(FDWORK, "leak", "80", "1", opts=["--alert", "fd-growth=81"])
        self.assertNotIn("fd-growth", f)


if __name__ == "__main__":
    unittest.main()
