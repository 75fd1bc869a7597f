"""Hostile, wrap kernel: a subscriber too slow for a big cell (the native
kernel's test_hostile_iopub, with a Python cell). The wrapped ipykernel's
output is relayed through iopsd's iopub: a stream may be shed for the slow
subscriber (with the notice), status, execute_input and the rest may not."""
import threading
import time
import unittest

from jupyter_client.session import Session

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


    def read_cell(self, msg_id):
        """What the test's own client gets of cell msg_id until its idle:
        stdout bytes, stdout pieces (each at most 64 KiB of text), and the
        other messages."""
        size, pieces, others = 0, 0, []
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
            others.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        return size, pieces, others

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
        size, pieces, fast = self.read_cell(msg_id)
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

    def test_reader_that_pauses_gets_every_byte(self):
        # The same 100,000,000 bytes past a subscriber that reads nothing,
        # while a second one, with a queue of 16 messages, reads but stops
        # for half a second after 200 pieces: its queues fill. iopsd used to
        # publish past it at once (the queue being over its byte bound),
        # and libzmq then skipped it for half its queue: CI's ASan run saw
        # the frontend's own client lose 73 pieces so. Now a subscriber
        # that reads is waited for (up to 3 s from when the bound was
        # passed), and both readers get every byte.
        slow = self.subscriber()
        pauser = self.subscriber(hwm=16, rcvbuf=65536)
        session = Session(key=self.k.km.session.key)
        got = {}

        def read_pausing(msg_id):
            size, pieces, kinds = 0, 0, []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and pauser.poll(int(1000 * (deadline - time.monotonic()))):
                _, frames = session.feed_identities(pauser.recv_multipart())
                m = session.deserialize(frames)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                    size += len(m["content"]["text"])
                    pieces += 1
                    if pieces == 200:
                        time.sleep(0.5)
                    continue
                kinds.append(m["msg_type"] if m["msg_type"] != "status"
                             else m["content"]["execution_state"])
                if kinds[-1] == "idle":
                    break
            got.update(size=size, pieces=pieces, kinds=kinds)

        msg_id = self.k.kc.execute("import sys\n"
                                   "for i in range(20):\n"
                                   "    sys.stdout.write('x' * 5_000_000); sys.stdout.flush()\n")
        t = threading.Thread(target=read_pausing, args=(msg_id,))
        t.start()
        size, _, msgs = self.read_cell(msg_id)
        fast = [m["msg_type"] if m["msg_type"] != "status" else m["content"]["execution_state"]
                for m in msgs]
        t.join(130)
        slow.close()
        pauser.close()
        self.assertEqual(size, 100_000_000)
        self.assertEqual(fast, ["busy", "execute_input", "stream", "idle"])
        self.assertEqual(got, {"size": 100_000_000, "pieces": 20 * 77,
                               "kinds": ["busy", "execute_input", "stream", "idle"]})
        self.assert_healthy("after 100 MB past a subscriber that reads nothing and one that paused")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
