"""Hostile, wrap kernel: a client that queues 1,500 execute requests during a
long Python cell, then goes away ("Run All" on a long notebook, then closing
the tab). The native kernel used to abort in libzmq about 4 s later (issue 9,
item 1); the wrap kernel shares its loop and relays the requests to the
wrapped ipykernel, which runs them all for a client that is gone. iopsd must
survive, answer the first client's cell and serve a second client."""
import time
import unittest

from hostile import WrapHostileCase, run


class WrapFloodThenLeave(WrapHostileCase):
    def test_execute_flood_then_disconnect(self):
        msg_id = self.k.kc.execute("import time; time.sleep(6); print('first-done')")
        other = self.k.client()
        ids = [other.execute(f"x{i} = {i}") for i in range(1500)]
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
        # The 1,500 cells ran (in the wrapped kernel, in order): the last one's
        # variable is there.
        kc = self.k.client()
        try:
            rep, out, _ = run(kc, "print(x1499 + x0, len([k for k in globals() if k[0] == 'x' and k[1:].isdigit()]))")
            self.assertEqual(rep["content"]["status"], "ok", rep["content"])
            self.assertEqual(out, "1499 1500\n")
        finally:
            kc.stop_channels()
        self.assertEqual(len(set(ids)), 1500)
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
