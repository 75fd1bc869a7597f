"""Hostile, wrap kernel: a subscriber too slow for a big cell (the native
kernel's test_hostile_iopub, with a Python cell). The wrapped ipykernel's
output is relayed through iopsd's iopub: a stream may be shed for the slow
subscriber (with the notice), status, execute_input and the rest may not."""
import time
import unittest

import test_hostile_iopub as native
from hostile import SANITIZED, WrapHostileCase, status_kb


class WrapSlowSubscriber(WrapHostileCase, native.SlowSubscriber):
    noop_code = "None"
    # The same 15,000,000 + 5 x 3,000,000 bytes, flushed 100,000 bytes at a
    # time: ipykernel publishes one stream message per flush (300 in all).
    # Flushed at once, 30 MB are 6 messages, which fit iopsd's iopub queue of
    # 128 messages for one subscriber: then nothing is shed and the slow
    # subscriber gets everything late (docs/wrap.md, "Hostile clients").
    big_cell = ("import sys, time\n"
                "def out(n):\n"
                "    for _ in range(n // 100000):\n"
                "        sys.stdout.write('c' * 100000); sys.stdout.flush()\n"
                "out(15000000)\n"
                "for i in range(5):\n"
                "    time.sleep(1); out(3000000)\n")


    def test_large_flushes_bounded(self):
        # 100,000,000 bytes in 20 flushes of 5,000,000 while a subscriber
        # reads nothing: iopsd held all of it for that subscriber (RSS 11 ->
        # 109 MB, kept after the cell), 20 messages being far under libzmq's
        # 128 per subscriber. Now a long stream goes out in pieces of 64 KiB
        # and the wrapped kernel is read while iopsd's queue has room, so
        # output is shed past the subscriber once 32 MiB wait behind the
        # message being sent; the client that reads gets every byte.
        slow = self.subscriber()
        before = status_kb(self.k.pid, "VmHWM")
        msg_id = self.k.kc.execute("import sys\n"
                                   "for i in range(20):\n"
                                   "    sys.stdout.write('x' * 5_000_000); sys.stdout.flush()\n")
        size, pieces, fast = 0, 0, []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m = self.k.kc.get_iopub_msg(timeout=60)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                size += len(m["content"]["text"])
                pieces += 1
                self.assertLessEqual(len(m["content"]["text"]), 64 * 1024)
                continue
            fast.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        slow.close()
        self.assertEqual(size, 100_000_000)
        # 5,000,000 bytes are 76 pieces of 65,536 and one of 19,264
        self.assertEqual(pieces, 20 * 77)
        kinds = [m["msg_type"] if m["msg_type"] != "status" else m["content"]["execution_state"]
                 for m in fast]
        self.assertEqual(kinds, ["busy", "execute_input", "stream", "idle"])
        self.assertIsNotNone(native.NOTICE.search(fast[2]["content"]["text"]), fast[2]["content"])
        if not SANITIZED:
            peak = status_kb(self.k.pid, "VmHWM") - before
            self.assertLess(peak, 64 * 1024, f"iopsd's peak RSS grew by {peak} KiB")
        self.assert_healthy("after 100 MB in 20 flushes past a subscriber that reads nothing")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
