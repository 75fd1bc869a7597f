"""Hostile: a client that queues many requests during a running cell, then
goes away ("Run All" on a long notebook, then closing the tab). The kernel
used to abort in libzmq (stream_engine_base.cpp:331) about 4 s later."""
import time
import unittest

from hostile import SANITIZED, HostileCase, rss_kb


class FloodThenLeave(HostileCase):
    # the cells, in the kernel's language (the wrap kernel's test changes them)
    long_cell = "sleep 4; echo first-done"
    flood_cell = "echo {i}"
    sleep_cell = "sleep {s}"

    def flood_ran(self):
        """After the flood: what the 1,500 cells left (nothing to check here:
        bash's `echo` leaves no state)."""

    def test_execute_flood_then_disconnect(self):
        msg_id = self.k.kc.execute(self.long_cell)
        other = self.k.client()
        ids = [other.execute(self.flood_cell.format(i=i)) for i in range(1500)]
        self.assertEqual(len(set(ids)), 1500)
        time.sleep(0.3)
        other.stop_channels()  # gone, with 1,500 requests queued
        # Long enough for libzmq's heartbeat timeout path to have fired.
        time.sleep(6)
        self.assert_healthy("after the flood")
        # The first client's cell finished and was answered.
        while True:
            rep = self.k.kc.get_shell_msg(timeout=30)
            if rep["parent_header"].get("msg_id") == msg_id:
                break
        self.assertEqual(rep["content"]["status"], "ok")
        self.flood_ran()
        self.assert_clean_shutdown()

    def test_raw_flood_of_kernel_info(self):
        # 1,200 requests from a peer during a cell, then the peer disconnects.
        self.k.kc.execute(self.sleep_cell.format(s=3))
        other = self.k.client()
        for _ in range(1200):
            other.kernel_info()
        other.stop_channels()
        time.sleep(5)
        self.assert_healthy("after 1,200 kernel_info requests")
        self.assert_clean_shutdown()

    def test_queue_is_bounded(self):
        # Requests beyond the queue's bound are answered with an error at
        # once, not stored: memory stays bounded while a cell runs.
        cell = self.k.kc.execute("sleep 60")
        other = self.k.client(ready=False)
        for _ in range(10200):
            other.kernel_info()
        errors = 0
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline and errors < 200:
            try:
                rep = other.get_shell_msg(timeout=5)
            except Exception:
                break
            self.assertEqual(rep["content"].get("ename"), "KernelBusy",
                             "nothing but refusals while the cell runs")
            errors += 1
        self.assertEqual(errors, 200, "10,200 requests beyond a 10,000 bound: 200 refused")
        if not SANITIZED:
            self.assertLess(rss_kb(self.k.pid), self.rss_limit_kb, "RSS with a full queue")
        # The queued 10,000 are answered in order once the cell is interrupted.
        self.k.km.interrupt_kernel()
        while True:
            rep = self.k.kc.get_shell_msg(timeout=10)
            if rep["parent_header"].get("msg_id") == cell:
                break
        self.assertEqual(rep["content"]["status"], "error")
        answered = 0
        while answered < 10000:
            rep = other.get_shell_msg(timeout=10)
            self.assertEqual(rep["msg_type"], "kernel_info_reply")
            answered += 1
        other.stop_channels()
        self.assert_healthy("after a full queue")

if __name__ == "__main__":
    unittest.main()
