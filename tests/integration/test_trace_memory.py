"""The tracer's memory stays flat while millions of traced syscalls pass.

tw_io many N runs N lseek(2)s (each one seccomp stop) and prints the tracer's
peak resident set (VmHWM of its TracerPid) after N/10 of them and at the end.
The two must be equal within a fixed slack (1 MiB): per-operation storage of
even one byte per call would add 0.9 N bytes, 3.6 MB at the default N of
4,000,000 (times IOPSD_TEST_SCALE: 1, the sanitizer build 0.1 — there the
slack is above 0.9 N, and the run checks that nothing grows by a page per
few hundred calls). N was 10,000,000: 3 minutes of CI for the same verdict on
one byte per call."""
import os
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.path.join(BIN, "iopsd")
TW = os.path.join(BIN, "tests/helpers/tw_io")
SLACK_KB = 1024


def peak_kb(n, path):
    out = subprocess.run([IOPSD, "measure", "--backend", "trace", "-q", "--", TW, "many", str(n), path],
                         check=True, stdout=subprocess.PIPE, text=True, timeout=900).stdout
    assert out.startswith("hwm_kb="), out
    first, last = out.strip().split("=")[1].split(",")
    return int(first), int(last)


class FlatMemory(unittest.TestCase):
    def test_flat(self):
        scale = float(os.environ.get("IOPSD_TEST_SCALE", "1"))
        n = int(4_000_000 * scale)
        with tempfile.TemporaryDirectory() as d:
            small_kb, big_kb = peak_kb(n, os.path.join(d, "f"))
        print(f"tracer VmHWM: {small_kb} kB after {n // 10} syscalls, {big_kb} kB after {n}")
        self.assertGreater(small_kb, 0)
        self.assertLessEqual(big_kb - small_kb, SLACK_KB)


if __name__ == "__main__":
    unittest.main()
