"""Hostile: a client that sends heartbeats and never reads the echoes. The
kernel's heartbeat used to block on that client's full queue, leaving every
other client's pings unanswered (still 15 s after the client left), and the
frontends then declared the kernel dead."""
import time
import unittest

import zmq

from hostile import HostileCase


class PingerThatNeverReads(HostileCase):
    def flood(self, sock, count, size):
        """Sends count pings of size bytes without reading; returns how many
        went out (the rest found the hog's own send queue full for 5 s)."""
        payload = b"h" * size
        sent = 0
        deadline = time.monotonic() + 5
        while sent < count and time.monotonic() < deadline:
            try:
                sock.send(payload, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                time.sleep(0.001)
        return sent

    def test_pinger_that_never_reads(self):
        hog = self.k.ctx.socket(zmq.DEALER)
        hog.setsockopt(zmq.RCVHWM, 1)
        hog.setsockopt(zmq.RCVBUF, 4096)
        hog.setsockopt(zmq.LINGER, 0)
        hog.connect(self.k.endpoint("hb_port"))
        try:
            # 20,000 echoes of 1 KiB: far beyond the kernel's send queue for
            # one peer (1,000 messages) and the socket buffers between them.
            self.assertEqual(self.flood(hog, 20000, 1024), 20000)
            time.sleep(0.5)
            for _ in range(3):  # others keep getting their echoes
                self.assert_heartbeat()
            self.assert_healthy("while a pinger does not read its echoes")
        finally:
            hog.close()
        self.assert_heartbeat()  # at once after it left, not 15 s later
        self.assert_healthy("after the pinger left")
        self.assertIn("heartbeat: a client does not read its echoes", self.k.stderr())
        self.assert_clean_shutdown()

    def test_multipart_pings_echo_whole(self):
        # Echoes keep their frames; a ping of too many frames is not echoed.
        s = self.k.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.k.endpoint("hb_port"))
        try:
            s.send_multipart([b"a", b"", b"ccc"])
            self.assertTrue(s.poll(5000), "no echo of a 3-frame ping")
            self.assertEqual(s.recv_multipart(), [b"a", b"", b"ccc"])
            s.send_multipart([b"f"] * 100)
            s.send(b"after")
            self.assertTrue(s.poll(5000), "no echo after a 100-frame ping")
            self.assertEqual(s.recv_multipart(), [b"after"])
        finally:
            s.close()
        self.assert_healthy("after multipart pings")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
