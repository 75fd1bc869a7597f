"""Hostile: a subscriber too slow for a big cell. When iopub turned lossy the
final idle used to be dropped with the output (60 MB cell: 82 % of the output
and no idle; the frontend showed the kernel busy forever). Output may be shed
for the slow subscriber, with a notice in the stream; status, execute_input
and the rest are not."""
import re
import threading
import time
import unittest

import zmq
from jupyter_client.session import Session

from hostile import HostileCase

TOTAL = 30 * 1000 * 1000
NOTICE = re.compile(r"\[iopsd: output was published past a client that could not keep up: it "
                    r"may lack up to (\d+) bytes of it \((\d+) stream messages\)\]")


class SlowSubscriber(HostileCase):
    noop_code = "true"
    # 15,000,000 bytes at once, which the slow subscriber stops for 10 s
    # (then output is published past it), and 5 x 3,000,000 bytes a second
    # apart, while it reads again.
    big_cell = ("head -c 15000000 /dev/zero | tr '\\0' c; "
                "for i in 1 2 3 4 5; do sleep 1; head -c 3000000 /dev/zero | tr '\\0' c; done")

    def subscriber(self, hwm=1, rcvbuf=4096):
        s = self.k.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.RCVHWM, hwm)
        s.setsockopt(zmq.RCVBUF, rcvbuf)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(self.k.endpoint("iopub_port"))
        # connect() is asynchronous: run cells until it has a message.
        for _ in range(50):
            self.k.kc.execute_interactive(self.noop_code, timeout=10)
            if s.poll(200):
                while s.poll(200):
                    s.recv_multipart()
                return s
        self.fail("the slow subscriber never got a message")

    def test_status_survives_shedding(self):
        slow = self.subscriber()
        session = Session(key=self.k.km.session.key)
        got = {}

        def read_slow(msg_id):
            # Reads nothing until the kernel publishes past it (after 10 s
            # without room), then a second more, then everything.
            deadline = time.monotonic() + 40
            while "publishing output without waiting" not in self.k.stderr():
                if time.monotonic() > deadline:
                    got["msgs"], got["size"] = [], 0
                    return
                time.sleep(0.1)
            time.sleep(1)
            msgs, size = [], 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and slow.poll(int(1000 * (deadline - time.monotonic()))):
                _, frames = session.feed_identities(slow.recv_multipart())
                m = session.deserialize(frames)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                    size += len(m["content"]["text"])
                    continue
                msgs.append(m)
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
            got["msgs"], got["size"] = msgs, size

        msg_id = self.k.kc.execute(self.big_cell)
        t = threading.Thread(target=read_slow, args=(msg_id,))
        t.start()
        # The client that reads gets every byte, the notice, and idle.
        size, fast = 0, []
        while True:
            m = self.k.kc.get_iopub_msg(timeout=40)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                size += len(m["content"]["text"])
                continue
            fast.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        t.join(70)
        slow.close()
        self.assertEqual(size, TOTAL)

        def kinds(msgs):
            return [m["msg_type"] if m["msg_type"] != "status"
                    else m["content"]["execution_state"] for m in msgs]

        self.assertEqual(kinds(fast), ["busy", "execute_input", "stream", "idle"])
        self.assertEqual(kinds(got["msgs"]), ["busy", "execute_input", "stream", "idle"])
        notice = NOTICE.search(got["msgs"][2]["content"]["text"])
        self.assertIsNotNone(notice, got["msgs"][2]["content"])
        self.assertEqual(got["msgs"][2]["content"]["name"], "stderr")
        self.assertEqual(fast[2]["content"], got["msgs"][2]["content"])
        shed = int(notice.group(1))
        # The slow subscriber lacks at most what the notice says (output
        # published past it still reaches it when it has room).
        self.assertLess(got["size"], TOTAL)
        self.assertGreaterEqual(got["size"] + shed, TOTAL)
        log = self.k.stderr()
        self.assertEqual(log.count("has not read for 10000 ms: publishing output without "
                                   "waiting for it"), 1, log)
        self.assertEqual(log.count("publishing status and results without waiting"), 0, log)
        self.assertEqual(log.count("iopub waits for every subscriber again"), 1, log)
        self.assert_healthy("after shedding output for a slow subscriber")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
