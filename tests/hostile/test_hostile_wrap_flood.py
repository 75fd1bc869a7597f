"""Hostile, wrap kernel: a client that queues 1,500 execute requests during a
long Python cell, then goes away ("Run All" on a long notebook, then closing
the tab). The native kernel used to abort in libzmq about 4 s later (issue 9,
item 1); the wrap kernel shares its loop and relays the requests to the
wrapped ipykernel, which runs them all for a client that is gone. iopsd must
survive, answer the first client's cell and serve a second client. Also
1,200 kernel_info requests during a cell (answered after it for a client that
is gone). The native tests, with Python cells."""
import unittest

import test_hostile_flood as native
from hostile import WrapHostileCase, run


class WrapFloodThenLeave(WrapHostileCase, native.FloodThenLeave):
    long_cell = "import time; time.sleep(6); print('first-done')"
    flood_cell = "x{i} = {i}"
    sleep_cell = "import time; time.sleep({s})"
    # the bound on requests queued during a cell is the native kernel's
    # (engine_bash); the relay forwards them to the wrapped kernel
    test_queue_is_bounded = None

    def flood_ran(self):
        # The 1,500 cells ran (in the wrapped kernel, in order): the last
        # one's variable is there.
        kc = self.k.client()
        try:
            rep, out, _ = run(kc, "print(x1499 + x0, len([k for k in globals() "
                                  "if k[0] == 'x' and k[1:].isdigit()]))")
            self.assertEqual(rep["content"]["status"], "ok", rep["content"])
            self.assertEqual(out, "1499 1500\n")
        finally:
            kc.stop_channels()


if __name__ == "__main__":
    unittest.main()
