"""Hostile: big cells. A 20 MB cell failed with "Argument list too long"
(the engine's cap was 16 MiB). Cells up to 24 MiB run; a bigger one gets a
CellTooLarge error reply saying both sizes, and the kernel goes on.

A request over the front's caps (a frame over 32 MiB, a message over
48 MiB) used to cut the sender's connection with no reply: the notebook
waited for ever. The front now drains it while checking its signature and
hands the kernel a signed stand-in, which gets the error reply; an unsigned
one is dropped, with a line on stderr."""
import re
import time
import unittest

import zmq

from hostile import HostileCase, WrapHostileCase, run

CELL_MAX = 24 << 20
FRAME_MAX = 32 << 20
MSG_MAX = 48 << 20


class OverTheFrontCaps:
    """A 40,000,000-byte cell: its content frame is over the 32 MiB frame
    cap, so the front drains it (both kernels: the front is theirs)."""

    def send_raw(self, code, tamper=False, frames=None):
        """Sends an execute_request (or the frames given) on a DEALER of
        our own; returns the socket, the message id, the bytes of the
        message on the wire and its frames."""
        session = self.k.kc.session
        msg = session.msg("execute_request", {"code": code, "silent": False,
                                              "store_history": True, "user_expressions": {},
                                              "allow_stdin": False, "stop_on_error": True})
        if frames is None:
            frames = session.serialize(msg)
        if tamper:
            frames[1] = bytes(reversed(frames[1]))
        s = self.k.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.k.endpoint("shell_port"))
        s.send_multipart(frames)
        return s, msg["header"]["msg_id"], sum(len(f) for f in frames), frames

    def wait_stderr(self, text, timeout=60):
        """Waits until the kernel's stderr has text (or the timeout)."""
        deadline = time.monotonic() + timeout
        while text not in self.k.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)

    def assert_replay_dropped(self, chan):
        """The kernel's line for a replay of a message over the caps."""
        self.assertRegex(self.k.stderr(), re.compile(
            rf"^iopsd kernel: dropped a message on {chan}: duplicate signature \(replayed "
            r"message, over the caps\)$", re.M))

    def test_cell_over_the_frame_cap_answered(self):
        code = "x" * 40_000_000
        s, msg_id, wire, frames = self.send_raw(code)
        try:
            self.assertEqual(s.poll(120_000), zmq.POLLIN, "no reply to a 40 MB cell")
            reply = self.k.kc.session.deserialize(self.k.kc.session.feed_identities(
                s.recv_multipart())[1])
        finally:
            s.close()
        c = reply["content"]
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["msg_type"], "execute_reply")
        self.assertEqual((c["status"], c["ename"]), ("error", "CellTooLarge"))
        self.assertEqual(c["evalue"], f"the request was {wire} bytes; the kernel takes at most "
                         f"{FRAME_MAX} bytes in one frame and {MSG_MAX} in one message (cells of "
                         f"up to {CELL_MAX} bytes run): it was not run")
        kinds = []
        while not kinds or kinds[-1] != "idle":
            m = self.k.kc.get_iopub_msg(timeout=30)
            if m["parent_header"].get("msg_id") == msg_id:
                kinds.append(m["content"]["execution_state"] if m["msg_type"] == "status"
                             else m["msg_type"])
        self.assertEqual(kinds, ["busy", "error", "idle"])
        self.assertRegex(self.k.stderr(), re.compile(
            r"^iopsd kernel: shell: from 127\.0\.0\.1:\d+: a message of "
            rf"{wire} bytes in 6 frames, over the caps \({FRAME_MAX} a frame, {MSG_MAX} a "
            r"message\): answered with an error in its place$", re.M))
        # the same bytes again, with a bigger buffer: a replay, dropped
        s, _, _, _ = self.send_raw(None, frames=frames + [b"b" * 100])
        try:
            self.wait_stderr("replayed message, over the caps")
            self.assertEqual(s.poll(1000), 0, "a reply to a replayed message")
        finally:
            s.close()
        self.assert_replay_dropped("shell")
        self.assert_healthy("after a 40 MB cell answered with CellTooLarge")
        self.assert_clean_shutdown()

    def test_unsigned_cell_over_the_frame_cap_dropped(self):
        s, msg_id, wire, _ = self.send_raw("x" * 40_000_000, tamper=True)
        try:
            self.wait_stderr("dropped", timeout=120)
            self.assertEqual(s.poll(1000), 0, "a reply to a message with a bad signature")
        finally:
            s.close()
        self.assertRegex(self.k.stderr(), re.compile(
            rf"^iopsd kernel: shell: from 127\.0\.0\.1:\d+: a message of {wire} bytes in 6 "
            r"frames, over the caps, is not signed with the connection's key: dropped$", re.M))
        self.assert_healthy("after an unsigned 40 MB cell")
        self.assert_clean_shutdown()


    def test_input_over_the_frame_cap_is_end_of_file(self):
        """An input_reply over the 32 MiB frame cap used to cut the stdin
        connection: the cell waited for its input for ever. Now the
        program gets end of file, and the cell a line saying why."""
        kc = self.k.kc
        msg_id = kc.execute(self.input_cell, allow_stdin=True)
        req = kc.get_stdin_msg(timeout=30)
        self.assertEqual(req["msg_type"], "input_request")
        session = kc.session
        frames = session.serialize(session.msg("input_reply", {"value": "y" * 40_000_000},
                                               parent=req["header"]))
        wire = sum(len(f) for f in frames)
        s = self.k.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.k.endpoint("stdin_port"))
        try:
            s.send_multipart(frames)
            rep = kc.get_shell_msg(timeout=120)
            self.assertEqual(rep["parent_header"]["msg_id"], msg_id)
            self.assertEqual(rep["content"]["status"], "ok", rep["content"])
            streams = []
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream":
                    streams.append((m["content"]["name"], m["content"]["text"]))
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
            self.assertEqual(streams, [
                ("stderr", f"iopsd: the reply to the input request was {wire} bytes; the "
                           f"kernel takes at most {FRAME_MAX} bytes in one frame and {FRAME_MAX} "
                           "in one message: the program got end of file instead\n"),
                ("stdout", self.input_eof_out)])
            self.assertRegex(self.k.stderr(), re.compile(
                r"^iopsd kernel: stdin: from 127\.0\.0\.1:\d+: a message of "
                rf"{wire} bytes in 6 frames, over the caps \({FRAME_MAX} a frame, {FRAME_MAX} a "
                r"message\): the program waiting for input gets end of file in its place$", re.M))
            # the same message again, with a buffer (its stand-in differs):
            # a replay of the original, dropped
            s.send_multipart(frames + [b"b" * 100])
            self.wait_stderr("replayed message, over the caps")
        finally:
            s.close()
        self.assert_replay_dropped("stdin")
        self.assert_healthy("after an input over the caps")
        self.assert_clean_shutdown()


class BigCells(OverTheFrontCaps, HostileCase):
    input_cell = 'read -r x; echo "rc=$? len=${#x}"'
    input_eof_out = "rc=1 len=0\n"

    # a 24 MiB cell is held while it runs (the request, its parsed code, the
    # execute_input echo) and stays in the in-memory history
    rss_limit_kb = 128 * 1024

    def test_20mb_cell_runs(self):
        code = "#" + "x" * 20_000_000 + "\necho ok"
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "ok\n")
        self.assert_healthy("after a 20 MB cell")
        self.assert_clean_shutdown()

    def test_cell_over_the_cap(self):
        code = "#" + "x" * CELL_MAX + "\necho ok"  # CELL_MAX + 9 bytes
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        c = rep["content"]
        self.assertEqual((c["status"], c["ename"]), ("error", "CellTooLarge"))
        self.assertEqual(c["evalue"], f"the cell is {CELL_MAX + 9} bytes; the largest cell the "
                         f"kernel runs is {CELL_MAX} bytes (24 MiB)")
        self.assertEqual(out, "")
        self.assertEqual([m["msg_type"] for m in msgs], ["status", "error", "status"])
        # exactly at the cap it runs
        code = "#" + "x" * (CELL_MAX - 9) + "\necho ok"
        self.assertEqual(len(code), CELL_MAX)
        rep, out, _ = run(self.k.kc, code, timeout=120)
        self.assertEqual((rep["content"]["status"], out), ("ok", "ok\n"))
        self.assert_healthy("after a cell over the cap")
        self.assert_clean_shutdown()


class WrapBigCells(OverTheFrontCaps, WrapHostileCase):
    """The wrap kernel relays a big cell whole: ipykernel runs it, and
    execute_input echoes it (iopsd holds the request and the echo while
    they pass, not the cell's run)."""
    input_cell = "try:\n    x = input()\nexcept EOFError:\n    print('EOFError')\n" \
                 "else:\n    print(len(x))"
    input_eof_out = "EOFError\n"
    rss_limit_kb = 128 * 1024

    def test_20mb_cell_runs(self):
        code = "#" + "x" * 20_000_000 + "\nprint('ok')"
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "ok\n")
        echo = [m for m in msgs if m["msg_type"] == "execute_input"]
        self.assertEqual(len(echo), 1)
        self.assertEqual(echo[0]["content"]["code"], code)
        self.assert_healthy("after a 20 MB cell")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()
