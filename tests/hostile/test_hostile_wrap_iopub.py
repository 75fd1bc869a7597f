"""Hostile, wrap kernel: a subscriber too slow for a big cell (the native
kernel's test_hostile_iopub, with a Python cell). The wrapped ipykernel's
output is relayed through iopsd's iopub: a stream may be shed for the slow
subscriber (with the notice), status, execute_input and the rest may not."""
import unittest

import test_hostile_iopub as native
from hostile import WrapHostileCase


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


if __name__ == "__main__":
    unittest.main()
