"""The tracer's memory stays flat while millions of traced syscalls pass.

tw_io many N runs N lseek(2)s (each one seccomp stop) and prints the tracer's
peak resident set (VmHWM of its TracerPid) at the end. A run of N/10 and a run
of N must peak within a fixed slack: per-operation storage of even one byte
per call would add N bytes. N is 10,000,000 times IOPSD_TEST_SCALE (default 1;
the sanitizer build uses 0.1)."""
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
    return int(out.split("=")[1])


class FlatMemory(unittest.TestCase):
    def test_flat(self):
        scale = float(os.environ.get("IOPSD_TEST_SCALE", "1"))
        big = int(10_000_000 * scale)
        with tempfile.TemporaryDirectory() as d:
            small_kb = peak_kb(big // 10, os.path.join(d, "f"))
            big_kb = peak_kb(big, os.path.join(d, "f"))
        print(f"tracer VmHWM: {small_kb} kB after {big // 10} syscalls, {big_kb} kB after {big}")
        self.assertGreater(small_kb, 0)
        self.assertLessEqual(abs(big_kb - small_kb), SLACK_KB)


if __name__ == "__main__":
    unittest.main()
