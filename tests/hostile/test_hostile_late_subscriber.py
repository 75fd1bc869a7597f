"""A subscriber that joins iopub late must not miss the first cell.

`jupyter console` sends its first execute_request as soon as its
kernel_info_request is answered; unlike jupyter_client's wait_for_ready it
does not wait for its iopub subscription to arrive. When the subscription
came after the cell's busy, output and idle had been published (under
AddressSanitizer with the CPUs busy, about one console run in ten), the
console never saw idle and waited for ever after `In [1]:`. The front now
holds shell requests while an iopub connection has connected but not yet
subscribed, up to IOPUB_JOIN_MS (2 s), and says so on stderr when a
connection takes longer.

Here the late subscriber is a raw ZMTP connection that subscribes 0.5 s after
the request was sent: every message of the cell must reach it."""
import json
import socket
import struct
import time
import unittest

from jupyter_client.session import Session

from hostile import HostileCase, WrapHostileCase, zmtp_connect, zmtp_frame

JOIN_MS = 2000


def read_frames(s, buf, timeout):
    """The next ZMTP message on s (a list of frame bodies; commands are
    skipped); buf holds bytes read past it. None when nothing comes."""
    s.settimeout(timeout)
    frames = []
    while True:
        while True:
            if len(buf) >= 2:
                flags = buf[0]
                if flags & 2:
                    if len(buf) >= 9:
                        size, head = struct.unpack(">Q", bytes(buf[1:9]))[0], 9
                    else:
                        size = None
                else:
                    size, head = buf[1], 2
                if size is not None and len(buf) >= head + size:
                    body = bytes(buf[head:head + size])
                    del buf[:head + size]
                    break
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                return None
            if not chunk:
                return None
            buf += chunk
        if flags & 4:
            continue  # a command (PING, ...)
        frames.append(body)
        if not flags & 1:
            return frames


def jupyter_messages(s, msg_id, timeout=15):
    """The iopub messages whose parent is msg_id, read off the raw
    connection s until that request's idle."""
    buf = bytearray()
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = read_frames(s, buf, max(0.01, deadline - time.monotonic()))
        if frames is None:
            break
        i = frames.index(b"<IDS|MSG>")
        header, parent, _, content = (json.loads(f) for f in frames[i + 2:i + 6])
        if parent.get("msg_id") != msg_id:
            continue
        got.append((header["msg_type"], content))
        if header["msg_type"] == "status" and content["execution_state"] == "idle":
            break
    return got


class LateSubscriber(HostileCase):
    code = "echo late-joiner"

    def shell_only_client(self):
        sess = Session(key=self.k.km.session.key,
                       signature_scheme=self.k.km.session.signature_scheme)
        kc = self.k.km.client(session=sess)
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False)
        return kc

    def test_cell_waits_for_a_subscriber_that_joins(self):
        s = zmtp_connect(self.k.endpoint("iopub_port"), b"SUB")
        kc = self.shell_only_client()
        try:
            msg_id = kc.execute(self.code)
            time.sleep(0.5)
            s.sendall(zmtp_frame(b"\x01"))  # subscribe to everything
            msgs = jupyter_messages(s, msg_id)
            rep = kc.get_shell_msg(timeout=30)
        finally:
            kc.stop_channels()
            s.close()
        self.assertEqual(rep["parent_header"]["msg_id"], msg_id)
        self.assertEqual(rep["content"]["status"], "ok")
        types = [t for t, _ in msgs]
        self.assertEqual(types[0], "status")
        self.assertEqual(msgs[0][1]["execution_state"], "busy")
        self.assertEqual(types[1], "execute_input")
        self.assertEqual(msgs[1][1]["code"], self.code)
        self.assertEqual("".join(c["text"] for t, c in msgs if t == "stream"), "late-joiner\n")
        self.assertEqual(types[-1], "status")
        self.assertEqual(msgs[-1][1]["execution_state"], "idle")
        self.assertNotIn("did not subscribe", self.k.stderr())
        self.assert_healthy()

    def test_a_subscriber_that_never_subscribes_holds_requests_2s_at_most(self):
        s = zmtp_connect(self.k.endpoint("iopub_port"), b"SUB")
        kc = self.shell_only_client()
        try:
            t0 = time.monotonic()
            kc.kernel_info()
            rep = kc.get_shell_msg(timeout=30)
            took = time.monotonic() - t0
        finally:
            kc.stop_channels()
        self.assertEqual(rep["msg_type"], "kernel_info_reply")
        lines = [l for l in self.k.stderr().splitlines() if "did not subscribe" in l]
        self.assertEqual(len(lines), 1, self.k.stderr())
        self.assertRegex(lines[0], r"^iopsd kernel: iopub: a connection from \S+ did not subscribe "
                         r"within 2000 ms: requests go on without waiting for it$")
        self.assertGreaterEqual(took, 1.0, "the request was not held for the joining subscriber")
        # the connection stays; a later subscription on it is served
        s.sendall(zmtp_frame(b"\x01"))
        kc = self.shell_only_client()
        try:
            msg_id = kc.execute(self.code)
            msgs = jupyter_messages(s, msg_id)
        finally:
            kc.stop_channels()
            s.close()
        self.assertEqual("".join(c["text"] for t, c in msgs if t == "stream"), "late-joiner\n")
        self.assert_healthy()


class WrapLateSubscriber(WrapHostileCase, LateSubscriber):
    code = "print('late-joiner')"


if __name__ == "__main__":
    unittest.main()
