"""Findings on real workloads (tests/helpers/iowork, static: its I/O is exactly
what its source says), each rule against its counterpart, with the exact
sentence; --alert thresholds change the outcome; the text report shows the
findings first."""
import json
import os
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.path.join(BIN, "iopsd")
W = os.path.join(BIN, "tests/helpers/iowork")
QUIET_TIMING = ["--alert", "latency-outliers=off"]  # timing-dependent: tested in test_findings.c


class Findings(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.d = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def measure(self, *argv, alerts=(), backend="trace"):
        p = subprocess.run([IOPSD, "measure", "--backend", backend, "-q", "--json", "-",
                            *QUIET_TIMING, *alerts, "--", W, *argv],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        return {f["rule"]: f for f in j["findings"]}, j

    def path(self, name):
        return os.path.join(self.d, name)

    def test_many_small_against_one_large(self):
        f, _ = self.measure("write", self.path("small"), "100", "5000")
        self.assertEqual(f["small-ops"]["what"],
                         "5,000 of 5,000 data calls (100%) moved under 4 KiB each, "
                         "488.28 KiB in all.")
        self.assertEqual(f["small-writes"]["what"],
                         f"5,000 writes of 100 B on average to {self.path('small')} "
                         "(488.28 KiB in all).")
        self.assertEqual(f["small-writes"]["severity"], "warning")
        f, _ = self.measure("write", self.path("large"), "500000", "1")
        self.assertEqual(f, {})

    def test_thresholds_change_the_outcome(self):
        f, _ = self.measure("write", self.path("w"), "512", "200")
        self.assertNotIn("small-writes", f)  # 200 < 1,000 writes
        f, _ = self.measure("write", self.path("w"), "512", "200",
                            alerts=("--alert", "small-writes=100"))
        self.assertIn("small-writes", f)
        f, _ = self.measure("write", self.path("w"), "100", "5000",
                            alerts=("--alert", "small-ops=off", "--alert", "small-writes=off"))
        self.assertEqual(f, {})
        p = subprocess.run([IOPSD, "measure", "--alert", "frequent-flyer=3", "--", "true"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "iopsd: --alert: unknown rule 'frequent-flyer' (see --help)\n")

    def test_fsync_per_write_against_one_at_the_end(self):
        f, _ = self.measure("syncwrite", self.path("s"), "4096", "100", "1")
        self.assertEqual(f["fsync-per-write"]["what"], "100 fsync calls for 100 writes to files.")
        self.assertEqual(f["fsync-per-write"]["severity"], "critical")
        f, _ = self.measure("syncwrite", self.path("s"), "4096", "100", "0")
        self.assertEqual(f, {})

    def test_random_against_sequential_reads(self):
        subprocess.run([W, "write", self.path("big"), "4096", "1024"], check=True)
        f, _ = self.measure("randread", self.path("big"), "4096", "500")
        # 500 seeks to blocks plus the one to the end that finds the size
        self.assertEqual(f["random-access"]["what"],
                         f"501 seeks for 500 reads and writes on {self.path('big')}: random access.")
        f, _ = self.measure("read", self.path("big"), "4096")
        self.assertEqual(f, {})

    def test_reopen(self):
        subprocess.run([W, "write", self.path("cfg"), "10", "1"], check=True)
        f, _ = self.measure("reopen", self.path("cfg"), "150")
        self.assertEqual(f["reopen"]["what"], f"{self.path('cfg')} was opened 150 times.")
        f, _ = self.measure("reopen", self.path("cfg"), "99")
        self.assertEqual(f, {})

    def test_text_report_shows_findings_first(self):
        p = subprocess.run([IOPSD, "measure", "--backend", "trace", *QUIET_TIMING, "--", W,
                            "syncwrite", self.path("s"), "4096", "100", "1"],
                           capture_output=True, text=True, timeout=60)
        lines = p.stderr.splitlines()
        self.assertEqual(lines[1], "Findings (1)")
        self.assertEqual(lines[2].split(), ["critical", "100", "fsync", "calls", "for", "100",
                                            "writes", "to", "files."])


if __name__ == "__main__":
    unittest.main()
