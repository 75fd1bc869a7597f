"""Hostile: processes left behind. SIGKILL of the kernel left bash's
background jobs, `nohup` jobs and signal-ignoring children running (bash has
its own session), and a `setsid` child survived even a clean shutdown. Each
process gets a unique marker argument and /proc is scanned for it."""
import os
import random
import signal
import time
import unittest

from hostile import HostileCase, alive, descendants, run


def with_marker(marker):
    """pids of live processes whose command line contains marker."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker.encode() in f.read() and alive(int(d)):
                    out.append(int(d))
        except OSError:
            pass
    return out


class LeftBehind(HostileCase):
    def start_jobs(self, extra=""):
        tag = f"{os.getpid()}{random.randrange(10**6):06d}"
        self.markers = {kind: f"1000.{tag}{i}" for i, kind in
                        enumerate(["bg", "nohup", "ignoring", "setsid", "daemon"][:5 if extra else 4])}
        m = self.markers
        self.addCleanup(self.kill_markers)  # even when an assertion fails first
        code = (f"sleep {m['bg']} &\n"
                f"nohup sleep {m['nohup']} >/dev/null 2>&1 &\n"
                f"(trap '' TERM HUP INT; sleep {m['ignoring']}) &\n"
                f"setsid sleep {m['setsid']} &\n")
        if extra:  # double fork + setsid: the parent is gone at once
            code += f"( setsid sleep {m['daemon']} & )\n"
        rep, _, _ = run(self.k.kc, code + "echo started")
        self.assertEqual(rep["content"]["status"], "ok")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            missing = [k for k, v in m.items() if not with_marker(v)]
            if not missing:
                break
            time.sleep(0.05)
        self.assertEqual(missing, [], "jobs did not start")

    def assert_none_left(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = {k: with_marker(v) for k, v in self.markers.items()}
            left = {k: v for k, v in left.items() if v}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(left, {}, "processes left behind")

    def kill_markers(self):
        for v in self.markers.values():
            for p in with_marker(v):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def test_clean_shutdown(self):
        self.start_jobs(extra="daemon")
        self.assert_healthy("with jobs running")
        self.assert_clean_shutdown()
        self.assert_none_left()

    def test_sigkill_of_the_kernel(self):
        self.start_jobs()
        family = descendants(self.k.pid)
        os.kill(self.k.pid, signal.SIGKILL)
        self.k.proc.wait(timeout=10)
        self.assert_none_left()
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


if __name__ == "__main__":
    unittest.main()
