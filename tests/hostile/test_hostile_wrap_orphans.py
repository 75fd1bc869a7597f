"""Hostile, wrap kernel: processes left behind. The wrapped ipykernel runs in
a session of its own; what a cell starts (a plain child, `nohup`, a child
that ignores SIGTERM/SIGHUP/SIGINT, a `start_new_session` child, a
double-forked `setsid` daemon) must not outlive iopsd, whether it ends by
shutdown_request, SIGTERM or SIGKILL (idle or in the middle of a cell). Each
process gets a unique marker argument and /proc is scanned for it."""
import os
import signal
import time
import unittest

from hostile import MarkedJobs, WrapHostileCase, alive, descendants, run

KINDS = ["child", "nohup", "ignoring", "new_session", "daemon"]


class WrapLeftBehind(MarkedJobs, WrapHostileCase):
    def start_jobs(self, daemon):
        m = self.new_markers(2000, KINDS if daemon else KINDS[:-1])
        code = ("import subprocess as sp\n"
                "q = dict(stdin=sp.DEVNULL, stdout=sp.DEVNULL, stderr=sp.DEVNULL)\n"
                f"jobs = [sp.Popen(['sleep', '{m['child']}'], **q),\n"
                f"        sp.Popen(['nohup', 'sleep', '{m['nohup']}'], **q),\n"
                f"        sp.Popen(['sh', '-c', \"trap '' TERM HUP INT; sleep {m['ignoring']}; :\"], **q),\n"
                f"        sp.Popen(['sleep', '{m['new_session']}'], start_new_session=True, **q)]\n")
        if daemon:  # double fork + setsid: its parent is gone at once
            code += f"sp.run(['sh', '-c', 'setsid sleep {m['daemon']} &'], **q)\n"
        rep, out, _ = run(self.k.kc, code + "print('started')")
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "started\n")
        self.wait_jobs_started()

    def assert_family_gone(self, family, timeout=5):
        deadline = time.monotonic() + timeout
        while [p for p in family if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([p for p in family if alive(p)], [], "the wrapped kernel or the guard left")

    def kill_family_later(self, family):
        """Whatever the outcome, the wrapped kernel and the guard do not
        outlive the test (a stopped ipykernel would hold ctest's pipe)."""
        def kill():
            for p in family:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.addCleanup(kill)

    def test_clean_shutdown(self):
        self.start_jobs(daemon=True)
        self.assert_healthy("with jobs running")
        self.assert_clean_shutdown()
        self.assert_none_left()
        self.assert_private_dirs_gone()

    def test_sigterm_of_iopsd(self):
        self.start_jobs(daemon=True)
        family = [self.wrapped_pid(), self.guard_pid()]
        os.kill(self.k.pid, signal.SIGTERM)
        self.assertEqual(self.k.proc.wait(timeout=10), 128 + signal.SIGTERM, self.k.stderr()[-2000:])
        self.assert_none_left()
        self.assert_private_dirs_gone()
        self.assert_family_gone(family)

    def test_sigkill_of_iopsd(self):
        self.start_jobs(daemon=False)
        family = [self.wrapped_pid(), self.guard_pid()]
        self.kill_family_later(family)
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        self.assert_none_left()
        self.assert_private_dirs_gone()
        self.assert_family_gone(family)  # the guard is gone too, and ipykernel with it

    def test_sigkill_of_iopsd_while_a_cell_runs(self):
        self.sigkill_in_cell("")

    def test_sigkill_of_iopsd_while_a_measured_cell_runs(self):
        # %%iops -b trace: iopsd's tracer thread has ipykernel's threads
        # under ptrace when iopsd dies
        self.sigkill_in_cell("%%iops -b trace\n")

    def sigkill_in_cell(self, magic):
        self.start_jobs(daemon=False)
        family = [self.wrapped_pid(), self.guard_pid()]
        self.kill_family_later(family)
        self.k.kc.execute(magic + "import time\nwhile True:\n    print('busy', flush=True)\n    time.sleep(0.01)\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = self.k.kc.get_iopub_msg(timeout=10)
            if m["msg_type"] == "stream" and "busy" in m["content"]["text"]:
                break
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        self.assert_none_left()
        self.assert_private_dirs_gone()
        self.assert_family_gone(family + descendants(family[0]))


if __name__ == "__main__":
    unittest.main()
