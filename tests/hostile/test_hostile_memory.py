"""Hostile: memory before authentication. One 10 MB subscription frame sent to
iopub by an XSUB peer cost ~95 bytes of kernel memory per byte (10 MB ->
948 MB; 50 MB -> 4.7 GB and a loop blocked for 14 s): libzmq keeps each
subscription in a trie. iopub now refuses inbound frames over 256 bytes: the
sender is disconnected as the frame's header arrives, before it is stored."""
import time
import unittest

import zmq

from hostile import SANITIZED, HostileCase, rss_kb, zmtp_connect, zmtp_frame


class BigSubscriptions(HostileCase):
    def subscribe_raw(self, size):
        s = zmtp_connect(self.k.endpoint("iopub_port"), b"XSUB")
        try:
            s.sendall(zmtp_frame(b"\x01" + b"s" * (size - 1)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # disconnected while sending: what should happen
        # The kernel closes the connection: after its READY, reading gets
        # end of file (or a reset), not a timeout.
        closed = False
        try:
            while s.recv(1 << 16):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        finally:
            s.close()
        self.assertTrue(closed)

    def check_attack(self, size):
        before = rss_kb(self.k.pid)
        t0 = time.monotonic()
        self.subscribe_raw(size)
        self.assert_healthy(f"after a {size}-byte subscription")
        self.assertLess(time.monotonic() - t0, 10, "the kernel was held up")
        if not SANITIZED:
            grown = rss_kb(self.k.pid) - before
            self.assertLess(grown, 4096, f"kernel RSS grew by {grown} KiB")

    def test_10mb_subscription(self):
        self.check_attack(10 * 1000 * 1000)
        self.assert_clean_shutdown()

    def test_50mb_subscription(self):
        self.check_attack(50 * 1000 * 1000)
        self.assert_clean_shutdown()

    def test_topic_subscriptions_still_work(self):
        # A subscription of a topic prefix (up to the cap) is served.
        s = self.k.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        topic = b"kernel."
        s.setsockopt(zmq.SUBSCRIBE, topic)
        s.connect(self.k.endpoint("iopub_port"))
        try:
            for _ in range(50):
                self.k.kc.execute_interactive("true", timeout=10)
                if s.poll(200):
                    break
            self.assertTrue(s.poll(0), "no message for a 'kernel.' subscriber")
            self.assertTrue(s.recv_multipart()[0].startswith(topic))
        finally:
            s.close()
        self.assert_healthy("with a topic subscriber")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
