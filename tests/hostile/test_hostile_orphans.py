"""Hostile: processes left behind. SIGKILL of the kernel left bash's
background jobs, `nohup` jobs and signal-ignoring children running (bash has
its own session), and a `setsid` child survived even a clean shutdown. Each
process gets a unique marker argument and /proc is scanned for it."""
import os
import signal
import time
import unittest

from hostile import HostileCase, MarkedJobs, alive, descendants, run


class LeftBehind(MarkedJobs, HostileCase):
    def start_jobs(self, extra=""):
        m = self.new_markers(1000, ["bg", "nohup", "ignoring", "setsid", "daemon"][:5 if extra else 4])
        code = (f"sleep {m['bg']} &\n"
                f"nohup sleep {m['nohup']} >/dev/null 2>&1 &\n"
                f"(trap '' TERM HUP INT; sleep {m['ignoring']}) &\n"
                f"setsid sleep {m['setsid']} &\n")
        if extra:  # double fork + setsid: the parent is gone at once
            code += f"( setsid sleep {m['daemon']} & )\n"
        rep, _, _ = run(self.k.kc, code + "echo started")
        self.assertEqual(rep["content"]["status"], "ok")
        self.wait_jobs_started()

    def test_clean_shutdown(self):
        self.start_jobs(extra="daemon")
        self.assert_healthy("with jobs running")
        self.assert_clean_shutdown()
        self.assert_none_left()
        self.assert_private_dirs_gone()

    def test_sigkill_of_the_kernel(self):
        self.start_jobs()
        family = descendants(self.k.pid)
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        self.assert_none_left()
        self.assert_private_dirs_gone()
        # the guard is gone too, and bash with it
        deadline = time.monotonic() + 5
        while [p for p in family if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([p for p in family if alive(p)], [])

    def test_sigkill_of_the_kernel_while_a_cell_runs(self):
        self.start_jobs()
        self.k.kc.execute("while :; do echo busy; sleep 0.01; done")
        time.sleep(0.3)
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        self.assert_none_left()
        self.assert_private_dirs_gone()


if __name__ == "__main__":
    unittest.main()
