"""Hostile, wrap kernel: the wrapped ipykernel killed (SIGKILL) in the middle
of a cell. The cell gets its error on iopub, an error reply and its idle,
each saying how the kernel died and that the session's state is lost; iopsd
exits with status 3 leaving no process (the cell's child included); after
the frontend's restart (what jupyter_client's restarter does on an exit) the
next cell runs in a fresh kernel, without the old variables."""
import os
import signal
import time
import unittest

from hostile import WrapHostileCase, alive, descendants, run

DIED = ("was killed by signal 9 (Killed). iopsd ends with it so that the frontend restarts "
        "the kernel: the session's state (variables, imports) is lost.")


class WrappedKernelDies(WrapHostileCase):
    def test_sigkill_of_ipykernel_mid_cell(self):
        rep, _, _ = run(self.k.kc, "kept = 42")
        self.assertEqual(rep["content"]["status"], "ok")
        wrapped = self.wrapped_pid()
        msg_id = self.k.kc.execute("import subprocess, time\n"
                                   "p = subprocess.Popen(['sleep', '300'])\n"
                                   "print('started', flush=True)\n"
                                   "time.sleep(60)\n")
        deadline = time.monotonic() + 15
        while True:
            m = self.k.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            if m["msg_type"] == "stream" and "started" in m["content"]["text"]:
                break
        family = [self.k.pid] + descendants(self.k.pid)
        self.assertEqual(len(family), 4, family)  # iopsd, its guard, ipykernel, sleep
        os.kill(wrapped, signal.SIGKILL)
        while True:
            rep = self.k.kc.get_shell_msg(timeout=10)
            if rep["parent_header"].get("msg_id") == msg_id:
                break
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "KernelDied")
        expect = f"The wrapped kernel 'python3' (pid {wrapped}) {DIED}"
        self.assertEqual(rep["content"]["evalue"], expect)
        kinds = []
        while True:
            m = self.k.kc.get_iopub_msg(timeout=10)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            kinds.append(m["msg_type"])
            if m["msg_type"] == "error":
                self.assertEqual(m["content"]["evalue"], expect)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        self.assertEqual(kinds[-2:], ["error", "status"])
        self.assertEqual(self.k.proc.wait(timeout=10), 3)
        deadline = time.monotonic() + 5
        while [p for p in family if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([p for p in family if alive(p)], [], "processes left")
        self.assertIn(f"iopsd kernel: {expect}", self.k.stderr())
        # The frontend's restart: a fresh iopsd and ipykernel, the state gone.
        self.k.kc.stop_channels()
        self.k.km.restart_kernel(now=True)
        self.k.proc = self.k.km.provisioner.process
        self.k.pid = self.k.proc.pid
        self.k.kc = self.k.client()
        rep, out, _ = run(self.k.kc, "print('kept' in globals())")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(out, "False\n")
        self.assert_healthy("after the restart")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
