"""`iopsd import fs_usage`: exact reports from recorded logs, exit statuses,
and a large generated log streamed with flat memory.

Run by ctest (tests/fsusage.cmake) with IOPSD_BINARY_DIR and IOPSD_SOURCE_DIR
set. IOPSD_TEST_SCALE (default 1.0) scales the streamed log: 1.0 is 1 GiB.
"""
import json
import os
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("IOPSD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
IOPSD = os.path.join(BIN, "iopsd")
GEN = os.path.join(BIN, "tests", "helpers", "fsu_gen")
FIX = os.path.join(SRC, "tests", "fixtures", "fs_usage")

# What one cycle of fsu_gen holds (see tests/helpers/fsu_gen.c).
GEN_LINES = 23
GEN_CYCLE_BYTES = 1934


def load(path):
    with open(path) as f:
        return json.load(f)


def run(*args, stdin=None, input=None):
    return subprocess.run([IOPSD, "import", *args], stdin=stdin, input=input,
                          capture_output=True, timeout=120)


class ImportFixtures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_reference_log_json(self):
        out = self.path("r.json")
        p = run("fs_usage", os.path.join(FIX, "reference.log"), "--process", "python3",
                "--json", out, "--top", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        d = load(out)
        self.assertEqual(d["backend"], "fs_usage")
        io = d["io"]
        self.assertEqual((io["read_ops"], io["read_bytes"]), (4, 65536 + 10801 + 4096))
        self.assertEqual((io["write_ops"], io["write_bytes"]), (2, 1048576 + 4096))
        self.assertEqual((io["read_errors"], io["write_errors"]), (0, 1))
        self.assertEqual(d["meta_ops"]["open"], 3)
        self.assertEqual(d["meta_ops"]["stat"], 3)
        self.assertEqual([f["path"] for f in d["files"]],
                         ["/Users/alice/data/out.bin", "/Users/alice/data/input.csv"])
        self.assertEqual(d["files"][0]["write_bytes"], 1048576 + 4096)
        self.assertEqual(d["files"][0]["seeks"], 1)
        # the table went to stdout, the summary to stderr
        self.assertIn(b"iopsd report", p.stdout)
        self.assertEqual(p.stderr.decode(),
                         "iopsd: %s: 21 lines, 18 used, 0 not fs_usage lines, "
                         "3 of other processes, 0 unknown calls\n"
                         % os.path.join(FIX, "reference.log"))

    def test_varied_from_stdin_json_to_stdout(self):
        with open(os.path.join(FIX, "varied.log"), "rb") as f:
            p = run("fs_usage", "-", "--process", "Python 3.11", "--json", "-", stdin=f)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = json.loads(p.stdout)  # stdout holds only the JSON
        io = d["io"]
        self.assertEqual((io["read_ops"], io["read_bytes"]), (4, 6656))
        self.assertEqual((io["write_ops"], io["write_bytes"]), (5, 24592))
        self.assertEqual((io["read_errors"], io["write_errors"]), (2, 1))
        self.assertEqual(io["storage_read_bytes"], 49152)
        self.assertEqual(io["storage_write_bytes"], 28672)
        self.assertEqual(d["by_kind"]["socket"],
                         {"read_ops": 1, "write_ops": 1, "read_bytes": 256, "write_bytes": 128})
        self.assertEqual(d["fds"]["leaked"],
                         [{"fd": 4, "path": "/tmp/run 1.000000 x/out 2.bin", "kind": "file",
                           "pid": 0}])
        self.assertEqual(d["unseen"]["mmap"], 1)
        self.assertIn(b"iopsd report", p.stderr)  # the table moved to stderr
        self.assertIn(b": 55 lines, 46 used, 6 not fs_usage lines, 2 of other processes, "
                      b"1 unknown calls\n", p.stderr)

    def test_output_and_quiet(self):
        out = self.path("t.txt")
        p = run("fs_usage", os.path.join(FIX, "midnight.log"), "-q", "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"")
        with open(out) as f:
            text = f.read()
        self.assertIn("fs_usage", text)
        self.assertIn("wall 400.00 ms", text)  # across midnight

    def test_options_after_and_before(self):
        p = run("--quiet", "fs_usage", os.path.join(FIX, "midnight.log"), "--json", "-")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["io"]["write_ops"], 4)

    def test_help(self):
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"Usage: iopsd import fs_usage FILE", p.stdout)

    def assertFails(self, p, code, message):
        self.assertEqual(p.returncode, code, p.stderr)
        err = p.stderr.decode()
        self.assertIn(message, err)
        self.assertTrue(err.startswith("iopsd: "), err)

    def test_missing_file(self):
        p = run("fs_usage", self.path("nope.log"))
        self.assertFails(p, 1, "cannot open")
        self.assertEqual(len(p.stderr.splitlines()), 1)

    def test_directory(self):
        p = run("fs_usage", self.tmp.name)
        self.assertFails(p, 1, "Is a directory")

    def test_not_a_log(self):
        p = run("fs_usage", "-", input=b"hello\nworld\n\x00\xff\n" + b"x" * 200000)
        self.assertFails(p, 65, "no fs_usage line found (4 lines")
        p = run("fs_usage", "-", input=b"")
        self.assertFails(p, 65, "no fs_usage line found (0 lines")

    def test_no_line_of_process(self):
        p = run("fs_usage", os.path.join(FIX, "varied.log"), "--process", "Python")
        self.assertFails(p, 65, "no line of process 'Python' (49 lines of other processes)")

    def test_usage_errors(self):
        for args, msg in [((), "expected: fs_usage FILE"),
                          (("fs_usage",), "expected: fs_usage FILE"),
                          (("strace", "x"), "unknown log format 'strace'"),
                          (("fs_usage", "a", "b"), "expected: fs_usage FILE"),
                          (("fs_usage", "a", "--bogus"), "unknown or incomplete option"),
                          (("fs_usage", "a", "--top", "x"), "--top: 'x' is not a count"),
                          (("fs_usage", "a", "--process"), "needs an argument"),
                          (("fs_usage", "a", "--process", ""), "--process: empty name")]:
            with self.subTest(args=args):
                self.assertFails(run(*args), 2, msg)

    def test_unwritable_json(self):
        p = run("fs_usage", os.path.join(FIX, "midnight.log"), "-q", "--json",
                self.path("no/such/dir/x.json"))
        self.assertFails(p, 1, "cannot open")


class ImportStreaming(unittest.TestCase):
    """A generated log piped through `iopsd import fs_usage -`: exact totals,
    and the same peak RSS for 10 MiB and for the large log."""

    def stream(self, cycles):
        """Pipes `fsu_gen cycles` into the import; returns the importer's
        peak RSS (VmHWM, KiB), sampled from /proc while it runs: ru_maxrss
        would include the Python process it was forked from."""
        with tempfile.NamedTemporaryFile(suffix=".json") as js:
            gen = subprocess.Popen([GEN, str(cycles)], stdout=subprocess.PIPE)
            imp = subprocess.Popen([IOPSD, "import", "fs_usage", "-", "--process", "gen.worker",
                                    "--json", js.name, "-q"], stdin=gen.stdout)
            gen.stdout.close()
            hwm = 0
            while imp.poll() is None:
                try:
                    with open("/proc/%d/status" % imp.pid) as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                hwm = max(hwm, int(line.split()[1]))
                except (OSError, ValueError):
                    pass
                time.sleep(0.005)
            self.assertEqual(gen.wait(timeout=600), 0)
            self.assertEqual(imp.returncode, 0)
            self.assertGreater(hwm, 0)
            d = load(js.name)
        n = cycles
        io = d["io"]
        self.assertEqual(io["read_ops"], 9 * n)
        self.assertEqual(io["read_bytes"], (8 * 4096 + 2048) * n)
        self.assertEqual(io["write_ops"], 3 * n)
        self.assertEqual(io["write_bytes"], (2 * 65536 + 100) * n)
        self.assertEqual(io["read_errors"], n)
        self.assertEqual(io["storage_read_bytes"], 32768 * n)
        self.assertEqual(io["storage_write_bytes"], 65536 * n)
        m = d["meta_ops"]
        self.assertEqual((m["open"], m["close"], m["stat"], m["seek"]), (2 * n, 2 * n, n, n))
        self.assertEqual(d["fds"]["peak"], 1)
        self.assertEqual(d["fds"]["leaked"], [])
        self.assertEqual(d["files_total"], min(n, 1000) + 1)
        self.assertEqual(d["files"][0]["path"], "/data/out.bin")
        self.assertEqual(d["files"][0]["write_bytes"], (2 * 65536 + 100) * n)
        # from the earliest start (the first WrData, completed at 19 us after
        # 400 us) to the last selected line, the 21st of the last
        # 23-microsecond cycle; the log passes midnight
        self.assertEqual(round(d["wall_seconds"] * 1e6), (400 - 19) + (n - 1) * GEN_LINES + 20)
        return hwm

    def test_flat_memory(self):
        scale = float(os.environ.get("IOPSD_TEST_SCALE", "1"))
        small = (10 << 20) // GEN_CYCLE_BYTES
        big = int((1 << 30) * scale) // GEN_CYCLE_BYTES
        rss_small = self.stream(small)
        rss_big = self.stream(big)
        print("\nfs_usage import peak RSS: %d KiB for %d MiB, %d KiB for %d MiB"
              % (rss_small, small * GEN_CYCLE_BYTES >> 20, rss_big,
                 big * GEN_CYCLE_BYTES >> 20))
        self.assertLessEqual(rss_big, rss_small + 1024)


if __name__ == "__main__":
    unittest.main()
