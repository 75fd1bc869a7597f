"""%%iops in the native kernel where ptrace(2) is refused (a container's
seccomp profile, Yama): the kernel runs under tests/helpers/tw_noptrace, whose
seccomp filter makes every ptrace call fail with EPERM, as such places do.
`--backend trace` is a clear error reply and runs nothing; `auto` measures
with proc, exactly."""
import os
import shutil
import tempfile
import unittest

import kernelutil
from kernelutil import run, stop

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.environ.get("IOPSD", os.path.join(BIN, "iopsd"))
NOPTRACE = os.path.join(BIN, "tests/helpers/tw_noptrace")
DD = "dd if=/dev/zero of=F bs=4096 count=2560 status=none"


@unittest.skipUnless(os.path.exists(NOPTRACE), "tw_noptrace not built")
class NoPtrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="iopsd-noptrace-")
        data_dir = os.path.join(cls.dir, "jupyter")
        kernelutil.add_kernelspec(data_dir, "iops-bash-noptrace", {
            "argv": [NOPTRACE, IOPSD, "kernel", "-f", "{connection_file}"],
            "display_name": "Bash (iops, no ptrace)", "language": "bash",
            "interrupt_mode": "signal"})
        cls.restore_path = kernelutil.push_jupyter_path(data_dir)
        cls.km, cls.kc, _ = kernelutil.start(kernel="iops-bash-noptrace")
        run(cls.kc, f"cd {cls.dir}")

    @classmethod
    def tearDownClass(cls):
        stop(cls.km, cls.kc)
        cls.restore_path()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_trace_is_a_clear_error_and_runs_nothing(self):
        target = os.path.join(self.dir, "must-not-exist")
        for line in ("%%iops -b trace", "%iops -b trace"):
            with self.subTest(line=line):
                code = f"{line}\ntouch {target}" if line.startswith("%%") else f"{line} touch {target}"
                rep, msgs = run(self.kc, code)
                c = rep["content"]
                self.assertEqual(c["status"], "error")
                # one line that says what was refused and why
                self.assertTrue(c["evalue"].startswith(
                    line.split()[0] + ": backend 'trace' is unavailable: ptrace is not permitted"),
                    c["evalue"])
                self.assertNotIn("\n", c["evalue"].strip())
                self.assertFalse(os.path.exists(target))
                self.assertIsNone(kernelutil.report_of(msgs))
                self.assertEqual(msgs[-1]["content"]["execution_state"], "idle")

    def test_auto_measures_with_proc_exactly(self):
        rep, msgs = run(self.kc, f"%%iops\n{DD}")
        self.assertEqual(rep["content"]["status"], "ok")
        j = kernelutil.report_of(msgs)
        self.assertEqual(j["backend"], "proc")
        self.assertEqual(j["io"]["write_ops"], 2560)
        self.assertEqual(j["io"]["write_bytes"], 10485760)
        self.assertEqual(os.path.getsize(os.path.join(self.dir, "F")), 10485760)

    def test_session_usable_after_refusal(self):
        run(self.kc, "%%iops -b trace\ntrue")
        rep, msgs = run(self.kc, "echo still here")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(kernelutil.stdout_of(msgs), "still here\n")


if __name__ == "__main__":
    unittest.main()
