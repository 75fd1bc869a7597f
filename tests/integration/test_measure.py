"""`iopsd measure` end to end: exact counts on known workloads, exit statuses,
signals, options. Run by ctest with IOPSD and IOPSD_HELPERS set."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

IOPSD = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "../../build/iopsd"))
HELPERS = os.environ.get("IOPSD_HELPERS", os.path.join(os.path.dirname(IOPSD), "tests/helpers"))
IOWORK = os.path.join(HELPERS, "iowork")


def measure(*cmd, opts=(), backend="proc", **kw):
    """Runs iopsd measure with --json - -q; returns (report, completed process)."""
    p = subprocess.run([IOPSD, "measure", "--backend", backend, "--json", "-", "-q", *opts,
                        "--", *cmd], capture_output=True, **kw)
    rep = json.loads(p.stdout) if p.stdout.strip() else None
    return rep, p


class Exact(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.f = os.path.join(self.tmp.name, "F")

    def tearDown(self):
        self.tmp.cleanup()

    def test_dd_writes(self):
        rep, p = measure("dd", "if=/dev/zero", "of=" + self.f, "bs=4096", "count=2560",
                         "status=none")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(rep["schema"], "iopsd-report/1")
        self.assertEqual(rep["backend"], "proc")
        self.assertEqual(rep["exit_status"], 0)
        self.assertEqual(rep["io"]["write_ops"], 2560)
        self.assertEqual(rep["io"]["write_bytes"], 10485760)
        self.assertEqual(os.path.getsize(self.f), 10485760)

    def test_dd_readback(self):
        """dd's reads of F, less those of an empty input, are exactly F's reads:
        2,560 full blocks (the EOF read and the loader's reads cancel out)."""
        subprocess.run([IOWORK, "write", self.f, "4096", "2560"], check=True)
        empty = os.path.join(self.tmp.name, "E")
        open(empty, "w").close()
        full, p1 = measure("dd", "if=" + self.f, "of=/dev/null", "bs=4096", "status=none")
        none, p2 = measure("dd", "if=" + empty, "of=/dev/null", "bs=4096", "status=none")
        self.assertEqual((p1.returncode, p2.returncode), (0, 0))
        self.assertEqual(full["io"]["read_ops"] - none["io"]["read_ops"], 2560)
        self.assertEqual(full["io"]["read_bytes"] - none["io"]["read_bytes"], 10485760)
        self.assertEqual(full["io"]["write_ops"] - none["io"]["write_ops"], 2560)

    def test_static_helper_exact(self):
        """The helper does exactly these syscalls: 2,560 writes, then a read-back
        of 2,560 reads of 4,096 plus the zero-byte EOF read."""
        rep, p = measure(IOWORK, "write", self.f, "4096", "2560")
        self.assertEqual(p.returncode, 0, p.stderr)
        base, _ = measure(IOWORK, "exit", "0")
        self.assertEqual(rep["io"]["write_ops"] - base["io"]["write_ops"], 2560)
        self.assertEqual(rep["io"]["write_bytes"] - base["io"]["write_bytes"], 10485760)
        self.assertEqual(rep["io"]["read_ops"], base["io"]["read_ops"])
        rd, _ = measure(IOWORK, "read", self.f, "4096")
        self.assertEqual(rd["io"]["read_ops"] - base["io"]["read_ops"], 2561)
        self.assertEqual(rd["io"]["read_bytes"] - base["io"]["read_bytes"], 10485760)
        self.assertEqual(rd["io"]["write_ops"], base["io"]["write_ops"])

    def test_storage_bytes(self):
        """Storage-level counters, with both backends. Writing 10 MiB dirties
        10,485,760 bytes of page cache, and the filesystem may dirty a few
        metadata blocks on top (ext4 does, depending on its allocation state),
        so the expectation comes first-hand: each writer prints what the kernel
        charged it in /proc/self/io just before exiting, and the report must
        hold exactly their sum. Truncating the file at once, while its pages
        are still dirty, cancels exactly those 10,485,760 bytes."""
        for backend in ("proc", "trace"):
            with self.subTest(backend=backend):
                f = os.path.join(self.tmp.name, "S-" + backend)
                script = f"{IOWORK} write {f} 4096 2560 && {IOWORK} write {f} 4096 0"
                rep, p = measure("sh", "-c", script, backend=backend,
                                 env={**os.environ, "IOWORK_SELFIO": "1"})
                self.assertEqual(p.returncode, 0, p.stderr)
                seen = [tuple(int(kv.split("=")[1]) for kv in line.split()[1:])
                        for line in p.stderr.decode().splitlines()
                        if line.startswith("selfio ")]
                self.assertEqual(len(seen), 2, p.stderr)
                (w1, c1), (w2, c2) = seen
                # The first writer: the data pages, plus whole metadata blocks.
                self.assertGreaterEqual(w1, 10485760)
                self.assertEqual((w1 - 10485760) % 4096, 0)
                self.assertEqual((c1, c2), (0, 10485760))
                self.assertEqual(rep["io"]["storage_write_bytes"], w1 + w2)
                self.assertEqual(rep["io"]["cancelled_write_bytes"], 10485760)
                self.assertEqual(os.path.getsize(f), 0)

    def test_orphaned_grandchild(self):
        """The writer's parent exits first: the orphan is reaped by iopsd's
        subreaper and its 2,560 writes are counted; the run waits for it."""
        base, _ = measure(IOWORK, "exit", "0")
        rep, p = measure(IOWORK, "orphan", self.f, "4096", "2560")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(rep["io"]["write_ops"] - base["io"]["write_ops"], 2560)
        self.assertEqual(rep["io"]["write_bytes"] - base["io"]["write_bytes"], 10485760)
        self.assertEqual(os.path.getsize(self.f), 10485760)
        # The proc backend sees processes by sampling (processes_exact is
        # false): at least the command and the orphan it reaped itself.
        self.assertFalse(rep["processes_exact"])
        self.assertIn(rep["processes"], (2, 3))
        self.assertEqual(rep["still_running"], 0)

    def test_forked_children(self):
        base, _ = measure(IOWORK, "exit", "0")
        rep, p = measure(IOWORK, "fork", "4", self.f, "4096", "2560")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(rep["io"]["write_ops"] - base["io"]["write_ops"], 2560)
        self.assertEqual(rep["io"]["write_bytes"] - base["io"]["write_bytes"], 10485760)
        self.assertFalse(rep["processes_exact"])
        self.assertIn(rep["processes"], range(1, 6))

    def test_no_wait_descendants(self):
        """With --no-wait-descendants the run ends with the command; the
        background job still running is reported, and what it wrote until
        then is counted exactly."""
        script = (f"( {IOWORK} write {self.f} 4096 10; sleep 1 ) >/dev/null 2>&1 & "
                  "sleep 0.4; exit 0")
        base, _ = measure("sh", "-c", "sleep 0.4; exit 0")
        t0 = time.monotonic()
        rep, p = measure("sh", "-c", script, opts=("--no-wait-descendants",))
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        # the subshell, which (as sh does) execs its last command, sleep
        self.assertEqual(rep["still_running"], 1)
        self.assertLess(elapsed, 0.9)
        self.assertEqual(rep["io"]["write_ops"] - base["io"]["write_ops"], 10)
        self.assertEqual(rep["io"]["write_bytes"] - base["io"]["write_bytes"], 40960)
        # Without the option the run waits for the background job.
        rep2, p2 = measure("sh", "-c", script)
        self.assertEqual(rep2["still_running"], 0)
        self.assertGreaterEqual(rep2["wall_seconds"], 1.0)
        self.assertEqual(rep2["io"]["write_bytes"] - base["io"]["write_bytes"], 40960)
        time.sleep(1.0)  # let the first run's background job finish

    def test_report_fields(self):
        rep, p = measure(IOWORK, "sleep", "0.2", opts=("--interval", "0.01"))
        self.assertEqual(p.returncode, 0)
        self.assertGreaterEqual(rep["wall_seconds"], 0.2)
        self.assertLess(rep["wall_seconds"], 1.0)
        fds = rep["fds"]
        self.assertTrue(fds["sampled"])
        self.assertEqual(fds["interval_seconds"], 0.01)
        # The command inherits exactly iopsd's non-close-on-exec descriptors.
        self.assertEqual(fds["start"], 3)
        self.assertEqual(fds["end"], 3)
        self.assertEqual(fds["peak"], 3)
        self.assertEqual(fds["delta"], 0)
        self.assertEqual(rep["command"], [IOWORK, "sleep", "0.2"])
        self.assertTrue(rep["start_time"].endswith("Z"))
        for k in ("iops", "read_iops", "write_iops", "read_bytes_per_second",
                  "write_bytes_per_second", "storage_read_bytes", "storage_write_bytes",
                  "cancelled_write_bytes"):
            self.assertIn(k, rep["io"])

    def test_descriptor_peak(self):
        """A command that opens 3 files and holds them: peak 6. bash execs the
        last command, sleep, which closes its stdout and stderr at exit
        (coreutils' close_stdout): the count as it calls exit_group is 4
        (+1), as the tracer says too. Without CAP_SYS_ADMIN proc cannot look
        at exit_group and its end is the last sample, taken while sleeping."""
        script = "exec 3>/dev/null 4>/dev/null 5>/dev/null; sleep 0.3"
        rep, p = measure("bash", "-c", script, opts=("--interval", "0.01"))
        self.assertEqual(p.returncode, 0)
        self.assertEqual(rep["fds"]["start"], 3)
        self.assertEqual(rep["fds"]["peak"], 6)
        self.assertEqual(rep["fds"]["end_at_exit"], os.geteuid() == 0)
        self.assertEqual(rep["fds"]["delta"], 1 if rep["fds"]["end_at_exit"] else 3)
        tr, p = measure("bash", "-c", script, backend="trace")
        self.assertEqual(p.returncode, 0)
        self.assertEqual((tr["fds"]["start"], tr["fds"]["end"]), (3, 4))

    def test_descriptor_end_after_close(self):
        """A program that closes its file just before exiting: end = start,
        read as it calls exit_group (no sample can be late or early)."""
        if os.geteuid() != 0:
            self.skipTest("the exit_group look needs CAP_SYS_ADMIN")
        for i in range(5):
            rep, p = measure(IOWORK, "write", self.f, "4096", "256")
            self.assertEqual(p.returncode, 0)
            self.assertTrue(rep["fds"]["end_at_exit"])
            self.assertEqual(rep["fds"]["end"], rep["fds"]["start"])
            self.assertEqual(rep["io"]["write_ops"], 256)

    def test_cpu_time(self):
        rep, p = measure("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
        self.assertEqual(p.returncode, 0)
        self.assertGreater(rep["user_seconds"] + rep["system_seconds"], 0.05)
        self.assertLessEqual(rep["user_seconds"] + rep["system_seconds"],
                             rep["wall_seconds"] * 1.05 + 0.02)


class Statuses(unittest.TestCase):
    def test_png_with_nothing_to_draw_keeps_what_was_there(self):
        """--png with the proc backend has nothing to draw: a file this run
        created is removed, but a file or device that existed is left alone
        (it used to be unlinked: `--png /dev/full` deleted the device)."""
        with tempfile.TemporaryDirectory() as d:
            mine = os.path.join(d, "mine.png")
            with open(mine, "w") as f:
                f.write("keep me")
            new = os.path.join(d, "new.png")
            for path in (mine, new, "/dev/null"):
                p = subprocess.run([IOPSD, "measure", "-q", "-b", "proc", "--png", path, "--",
                                    IOWORK, "exit", "0"], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(f"{path} not written", p.stderr)
            with open(mine) as f:
                self.assertEqual(f.read(), "keep me")
            self.assertFalse(os.path.exists(new))
            self.assertTrue(os.path.exists("/dev/null"))
            # and a PNG that is drawn replaces the old content entirely
            p = subprocess.run([IOPSD, "measure", "-q", "-b", "trace", "--png", mine, "--",
                                IOWORK, "write", os.path.join(d, "w"), "4096", "16"],
                               capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(mine, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_disk_full_outputs(self):
        """An output that cannot be written (disk full: /dev/full says ENOSPC
        on every write) is one line on stderr and status 125 — after the
        command ran, whose own status wins when it failed too."""
        for opt in ("--json", "--html", "-o"):
            with self.subTest(opt=opt):
                p = subprocess.run([IOPSD, "measure", "-q", opt, "/dev/full", "--", IOWORK, "exit",
                                    "0"], capture_output=True, text=True)
                self.assertEqual(p.returncode, 125, p.stderr)
                self.assertEqual(p.stderr, "iopsd: writing /dev/full: No space left on device\n")
                p = subprocess.run([IOPSD, "measure", "-q", opt, "/dev/full", "--", IOWORK, "exit",
                                    "3"], capture_output=True, text=True)
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertEqual(p.stderr, "iopsd: writing /dev/full: No space left on device\n")
        with tempfile.TemporaryDirectory() as d:  # a PNG that is drawn, on a full disk
            p = subprocess.run([IOPSD, "measure", "-q", "-b", "trace", "--png", "/dev/full", "--",
                                IOWORK, "write", os.path.join(d, "w"), "4096", "16"],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 125, p.stderr)
            self.assertEqual(p.stderr, "iopsd: writing /dev/full: No space left on device\n")
        self.assertTrue(os.path.exists("/dev/full"))

    def test_exit_codes(self):
        for code in (0, 3, 255):
            rep, p = measure(IOWORK, "exit", str(code))
            self.assertEqual(p.returncode, code)
            self.assertEqual(rep["exit_status"], code)

    def test_signal(self):
        rep, p = measure(IOWORK, "kill", "9")
        self.assertEqual(p.returncode, 128 + 9)
        self.assertEqual(rep["signal"], 9)
        self.assertNotIn("exit_status", rep)

    def test_not_found(self):
        p = subprocess.run([IOPSD, "measure", "--", "no-such-command-xyz"], capture_output=True)
        self.assertEqual(p.returncode, 127)
        self.assertEqual(p.stderr.decode().strip().splitlines(),
                         ["iopsd: no-such-command-xyz: command not found"])

    def test_not_executable(self):
        with tempfile.NamedTemporaryFile(suffix=".sh") as f:
            p = subprocess.run([IOPSD, "measure", "--", f.name], capture_output=True)
            self.assertEqual(p.returncode, 126)
            self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1)
            self.assertIn("cannot execute", p.stderr.decode())
        p = subprocess.run([IOPSD, "measure", "--", "/tmp"], capture_output=True)
        self.assertEqual(p.returncode, 126)

    def test_usage_errors(self):
        for args in (["measure", "--bogus", "--", "true"], ["measure"], ["--bogus"],
                     ["nosuchcommand"], ["measure", "--backend", "nope", "--", "true"],
                     ["measure", "--interval", "x", "--", "true"], ["measure", "-b"]):
            p = subprocess.run([IOPSD, *args], capture_output=True)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.decode().startswith("iopsd: "), args)

    def test_own_failure(self):
        p = subprocess.run([IOPSD, "measure", "--json", "/nonexistent/dir/x.json", "--", "true"],
                           capture_output=True)
        self.assertEqual(p.returncode, 125)
        self.assertIn("/nonexistent/dir/x.json", p.stderr.decode())

    def test_help_and_version(self):
        for args in (["--help"], ["measure", "--help"], ["--version"], ["-V"], ["-h"]):
            p = subprocess.run([IOPSD, *args], capture_output=True)
            self.assertEqual(p.returncode, 0, args)
            self.assertEqual(p.stderr, b"")
        p = subprocess.run([IOPSD, "--version"], capture_output=True, text=True)
        self.assertRegex(p.stdout, r"^iopsd \d+\.\d+\.\d+\n$")
        p = subprocess.run([IOPSD, "measure", "--help"], capture_output=True, text=True)
        self.assertIn("--backend", p.stdout)
        self.assertIn("--json", p.stdout)

    def test_measure_alias(self):
        p = subprocess.run([IOPSD, "--measure", "--json", "-", "-q", "--", IOWORK, "exit", "4"],
                           capture_output=True)
        self.assertEqual(p.returncode, 4)
        self.assertEqual(json.loads(p.stdout)["exit_status"], 4)


class Stdio(unittest.TestCase):
    def test_stdio_untouched(self):
        p = subprocess.run([IOPSD, "measure", "-q", "--", "sh", "-c", "cat; echo err >&2"],
                           input=b"hello\n", capture_output=True)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, b"hello\n")
        self.assertEqual(p.stderr, b"err\n")

    def test_table_to_stderr_and_output_file(self):
        p = subprocess.run([IOPSD, "measure", "--", IOWORK, "exit", "0"], capture_output=True)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"proc", p.stderr)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "table.txt")
            p = subprocess.run([IOPSD, "measure", "-o", out, "--", IOWORK, "exit", "0"],
                               capture_output=True)
            self.assertEqual(p.stderr, b"")
            with open(out) as f:
                self.assertIn("proc", f.read())

    def test_quiet(self):
        p = subprocess.run([IOPSD, "measure", "-q", "--", IOWORK, "exit", "0"],
                           capture_output=True)
        self.assertEqual((p.stdout, p.stderr), (b"", b""))

    def test_sigint_reaches_command(self):
        """Like a terminal's Ctrl-C: SIGINT to the whole foreground process
        group. The command dies of it; iopsd survives, prints the report and
        exits 130."""
        p = subprocess.Popen([IOPSD, "measure", "--json", "-", "-q", "--", "sleep", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 130, err)
        self.assertEqual(json.loads(out)["signal"], signal.SIGINT)

    def test_sigterm_forwarded(self):
        p = subprocess.Popen([IOPSD, "measure", "--json", "-", "-q", "--", "sleep", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM, err)
        self.assertEqual(json.loads(out)["signal"], signal.SIGTERM)

    def test_command_handles_sigint(self):
        """A command that traps SIGINT and exits 0 makes iopsd exit 0."""
        script = "trap 'kill $!; exit 0' INT; sleep 30 & wait"
        p = subprocess.Popen([IOPSD, "measure", "-q", "--", "bash", "-c", script],
                             start_new_session=True)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
