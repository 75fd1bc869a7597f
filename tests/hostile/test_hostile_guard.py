"""Hostile: the guard process killed (`kill -9` of iopsd-guard, which a cell
can find in /proc). The guard is what ends bash's session when the kernel
is killed; bash's death signal is SIGSTOP so that the guard finds what it
started. With the guard gone, a later SIGKILL of the kernel used to leave
bash stopped with its jobs. The kernel now starts another guard at once
(`iopsd --kernel-guard`), and the kernel keeps working."""
import os
import random
import signal
import time
import unittest

from hostile import HostileCase, WrapHostileCase, alive, descendants, run, with_marker


class GuardKilledMixin:
    def jobs_code(self, marker):
        raise NotImplementedError

    def kill_guard_then_kernel(self):
        marker = f"3000.{os.getpid()}{random.randrange(10**6):06d}"
        self.addCleanup(lambda: [os.kill(p, signal.SIGKILL) for p in with_marker(marker)])
        rep, _, _ = run(self.k.kc, self.jobs_code(marker))
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        deadline = time.monotonic() + 10
        while len(with_marker(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(with_marker(marker)), 2, "jobs did not start")
        first = self.guard_pid()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not self.k.stderr().count("the guard process died: started another") \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        second = self.guard_pid()
        self.assertNotEqual(second, first)
        self.assertEqual(self.k.stderr().count(
            f"iopsd kernel: the guard process died: started another (pid {second})"), 1,
            self.k.stderr())
        self.assert_healthy("after its guard was killed")
        family = descendants(self.k.pid)
        self.assertIn(second, family)
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while (with_marker(marker) or [p for p in family if alive(p)]) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(with_marker(marker), [], "jobs left behind")
        self.assertEqual([p for p in family if alive(p)], [], "processes left (stopped?)")


class NativeGuardKilled(GuardKilledMixin, HostileCase):
    def jobs_code(self, m):
        return f"sleep {m}1 &\nsetsid sleep {m}2 &\necho started"

    def test_guard_killed_then_kernel_killed(self):
        self.kill_guard_then_kernel()


class GuardKilledTooOften(HostileCase):
    def test_guard_killed_21_times(self):
        # 20 guards started again; the 21st kill is not answered, and said so.
        pids = set()
        for i in range(21):
            g = self.guard_pid()
            self.assertNotIn(g, pids)
            pids.add(g)
            os.kill(g, signal.SIGKILL)
            deadline = time.monotonic() + 5
            want, count = ("started another", i + 1) if i < 20 else ("killed too often", 1)
            while self.k.stderr().count(want) < count and time.monotonic() < deadline:
                time.sleep(0.02)
        log = self.k.stderr()
        self.assertEqual(log.count("iopsd kernel: the guard process died: started another"), 20, log)
        self.assertEqual(log.count("iopsd kernel: the guard process died and no other could be "
                                   "started (killed too often): should the kernel be killed, the "
                                   "processes of the cells would stay behind (stopped)"), 1, log)
        self.assertEqual([p for p in descendants(self.k.pid) if p in pids and alive(p)], [])
        self.assert_healthy("without a guard")
        self.assert_clean_shutdown()


class WrapGuardKilled(GuardKilledMixin, WrapHostileCase):
    def jobs_code(self, m):
        return ("import subprocess as sp\n"
                f"a = sp.Popen(['sleep', '{m}1'])\n"
                f"b = sp.Popen(['sleep', '{m}2'], start_new_session=True)\n")

    def test_guard_killed_then_kernel_killed(self):
        self.kill_guard_then_kernel()


if __name__ == "__main__":
    unittest.main()
