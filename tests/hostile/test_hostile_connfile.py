"""Hostile: connection files and the edges of the protocol. A FIFO as the
connection file blocked the kernel forever; "localhost" and "inproc" gave
unclear errors; ipc socket files were 0755 and stayed after shutdown; an empty
key was accepted silently; the kernel's own signatures were not in the replay
guard (an iopub message sent back on shell was accepted); unknown message
types got no busy/idle."""
import json
import os
import queue
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from hostile import HostileCase

IOPSD = os.environ.get("IOPSD", "iopsd")
GOOD = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
        "hb_port": 50005, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
        "signature_scheme": "hmac-sha256"}


class ConnectionFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iopsd-hostile-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def kernel(self, path, timeout=10):
        return subprocess.run([IOPSD, "kernel", "-f", path], capture_output=True, text=True,
                              timeout=timeout)

    def refused(self, text, message):
        path = os.path.join(self.dir, "conn.json")
        with open(path, "w") as f:
            f.write(text)
        r = self.kernel(path)
        self.assertEqual((r.returncode, r.stderr), (2, f"iopsd: connection file {path}: {message}\n"))

    def test_fifo_refused_at_once(self):
        path = os.path.join(self.dir, "fifo.json")
        os.mkfifo(path)
        r = self.kernel(path)  # used to block forever waiting for a writer
        self.assertEqual((r.returncode, r.stderr),
                         (2, f"iopsd: connection file {path}: not a regular file (a FIFO)\n"))
        r = self.kernel(self.dir)
        self.assertEqual(r.stderr,
                         f"iopsd: connection file {self.dir}: not a regular file (a directory)\n")

    def test_clear_errors(self):
        self.refused(json.dumps(dict(GOOD, ip="localhost")),
                     "field 'ip': \"localhost\" is not a numeric address; use one such as "
                     "127.0.0.1, ::1 or 0.0.0.0 (ZeroMQ binds addresses, not host names)")
        self.refused(json.dumps(dict(GOOD, transport="inproc")),
                     "field 'transport': \"inproc\" only connects threads of one process; use "
                     "\"tcp\" or \"ipc\"")

    def start(self, conn):
        path = os.path.join(self.dir, "conn.json")
        with open(path, "w") as f:
            json.dump(conn, f)
        log = open(os.path.join(self.dir, "stderr"), "w+")
        proc = subprocess.Popen([IOPSD, "kernel", "-f", path], stderr=log)
        kc = BlockingKernelClient(connection_file=path)
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=30)
        return proc, kc, log

    def shutdown(self, proc, kc):
        kc.shutdown()
        self.assertEqual(proc.wait(timeout=10), 0)
        kc.stop_channels()

    def test_ipc_files_private_and_removed(self):
        prefix = os.path.join(self.dir, "kernel-ipc")
        conn = dict(GOOD, transport="ipc", ip=prefix, shell_port=1, iopub_port=2, stdin_port=3,
                    control_port=4, hb_port=5)
        proc, kc, log = self.start(conn)
        try:
            files = [f"{prefix}-{n}" for n in range(1, 6)]
            for f in files:
                st = os.stat(f)
                self.assertTrue(stat.S_ISSOCK(st.st_mode), f)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, f)
            self.shutdown(proc, kc)
            self.assertEqual([f for f in files if os.path.exists(f)], [])
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()

    def test_empty_key_warned(self):
        # Free ports, picked by jupyter_client's helper.
        _, conn = write_connection_file(os.path.join(self.dir, "c.json"), key=b"")
        conn = dict(GOOD, key="", **{k: conn[k] for k in (
            "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")})
        proc, kc, log = self.start(conn)
        try:
            self.shutdown(proc, kc)
            log.seek(0)
            self.assertIn("iopsd kernel: warning: connection file", log.read())
            log.seek(0)
            self.assertIn("has an empty key: messages are neither signed nor checked, and "
                          "anyone who can reach the ports can run code as you\n", log.read())
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()


class ProtocolEdges(HostileCase):
    def test_own_iopub_message_sent_back_on_shell(self):
        sub = self.k.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self.k.endpoint("iopub_port"))
        try:
            frames = None
            for _ in range(50):
                self.k.kc.execute_interactive("true", timeout=10)
                if sub.poll(200):
                    frames = sub.recv_multipart()
                    break
            self.assertIsNotNone(frames, "no iopub message")
        finally:
            sub.close()
        # The kernel's own signed status message, verbatim, on shell.
        dealer = self.k.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(self.k.endpoint("shell_port"))
        try:
            dealer.send_multipart(frames[1:])  # without the topic
            self.assertFalse(dealer.poll(1000), "the kernel answered its own message")
        finally:
            dealer.close()
        deadline = time.monotonic() + 5
        while "duplicate signature (replayed message)" not in self.k.stderr():
            self.assertLess(time.monotonic(), deadline, self.k.stderr())
            time.sleep(0.05)
        self.assertIn("dropped a message on shell: duplicate signature (replayed message)",
                      self.k.stderr())
        self.assert_healthy("after its own message came back")
        self.assert_clean_shutdown()

    def test_unknown_type_gets_busy_idle(self):
        kc = self.k.kc
        msg = kc.session.msg("frobnicate_request", {})
        kc.shell_channel.send(msg)
        states = []
        deadline = time.monotonic() + 10
        while len(states) < 2 and time.monotonic() < deadline:
            m = kc.get_iopub_msg(timeout=10)
            if m["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                states.append((m["msg_type"], m["content"].get("execution_state")))
        self.assertEqual(states, [("status", "busy"), ("status", "idle")])
        with self.assertRaises(queue.Empty):
            kc.get_shell_msg(timeout=0.5)
        self.assert_healthy("after an unknown request")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
