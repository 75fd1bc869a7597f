"""Hostile, wrap kernel: 1,200 kernel_info requests from a client during a
Python cell, then the client disconnects (the native kernel's
test_hostile_flood.test_raw_flood_of_kernel_info). iopsd relays them to the
wrapped kernel, which answers them after the cell for a client that is gone."""
import time
import unittest

from hostile import WrapHostileCase


class WrapInfoFloodThenLeave(WrapHostileCase):
    def test_kernel_info_flood_then_disconnect(self):
        # 1,200 requests from a peer during a cell, then the peer disconnects.
        self.k.kc.execute("import time; time.sleep(3)")
        other = self.k.client()
        for _ in range(1200):
            other.kernel_info()
        other.stop_channels()
        time.sleep(5)
        self.assert_healthy("after 1,200 kernel_info requests")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
