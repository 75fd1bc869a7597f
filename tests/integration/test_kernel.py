"""The bash kernel over jupyter_client: message ordering, execute options,
stop_on_error, history, comms, stdin routing, interrupts, signature and
replay rejection, two clients on one kernel."""
import os
import queue
import time
import unittest

from jupyter_client.session import Session

import kernelutil as ku


class KernelProtocolTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log_path = ku.tmpfile(".log")
        cls.km, cls.kc, cls.log = ku.start(stderr_path=cls.log_path)

    @classmethod
    def tearDownClass(cls):
        ku.stop(cls.km, cls.kc, cls.log)
        os.unlink(cls.log_path)

    def setUp(self):
        ku.drain_iopub(self.kc, quiet=0.05)

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def test_execute_ordering(self):
        rep, msgs = ku.run(self.kc, "echo one; echo two >&2")
        types = [m["msg_type"] for m in msgs]
        self.assertEqual(types[0], "status")
        self.assertEqual(msgs[0]["content"]["execution_state"], "busy")
        self.assertEqual(types[1], "execute_input")
        self.assertEqual(msgs[1]["content"]["code"], "echo one; echo two >&2")
        self.assertEqual(msgs[1]["content"]["execution_count"], rep["content"]["execution_count"])
        self.assertEqual(types[-1], "status")
        self.assertEqual(ku.stdout_of(msgs), "one\n")
        self.assertEqual(ku.stdout_of(msgs, "stderr"), "two\n")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(rep["content"]["user_expressions"], {})
        for m in msgs:
            self.assertEqual(m["header"]["version"], "5.3")
        # busy and idle exactly once each
        states = [m["content"]["execution_state"] for m in msgs if m["msg_type"] == "status"]
        self.assertEqual(states, ["busy", "idle"])

    def test_execution_count_and_silent(self):
        rep1, _ = ku.run(self.kc, "true")
        n = rep1["content"]["execution_count"]
        rep2, msgs = ku.run(self.kc, "echo quiet", silent=True)
        self.assertEqual(rep2["content"]["execution_count"], n)
        self.assertEqual([m["msg_type"] for m in msgs], ["status", "status"])
        rep3, _ = ku.run(self.kc, "true", store_history=False)
        self.assertEqual(rep3["content"]["execution_count"], n + 1)
        rep4, _ = ku.run(self.kc, "true")
        self.assertEqual(rep4["content"]["execution_count"], n + 2)

    def test_error_reply(self):
        rep, msgs = ku.run(self.kc, "echo partial; (exit 7)")
        c = rep["content"]
        self.assertEqual(c["status"], "error")
        self.assertEqual(c["ename"], "ExitStatus")
        self.assertEqual(c["evalue"], "exit status 7")
        self.assertEqual(c["traceback"], ["exit status 7"])
        errors = [m for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["content"]["evalue"], "exit status 7")
        self.assertEqual(ku.stdout_of(msgs), "partial\n")
        # the session survives and keeps state
        rep, msgs = ku.run(self.kc, "V=kept; echo $V")
        self.assertEqual(ku.stdout_of(msgs), "kept\n")

    def test_stop_on_error_aborts_only_queued(self):
        kc = self.kc
        first = kc.execute("sleep 0.3; false")
        queued = [kc.execute("echo must-not-run-%d" % i) for i in range(2)]
        rep = ku.shell_reply(kc, first)
        self.assertEqual(rep["content"]["status"], "error")
        count = rep["content"]["execution_count"]
        for q in queued:
            r = ku.shell_reply(kc, q)
            self.assertEqual(r["content"]["status"], "error")
            self.assertEqual(r["content"]["ename"], "ExecutionAborted")
            self.assertEqual(r["content"]["execution_count"], count)
        outs = ku.drain_iopub(kc)
        self.assertEqual(ku.stdout_of(outs), "")
        # a request sent after the failure runs normally
        rep, msgs = ku.run(kc, "echo runs-after")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(ku.stdout_of(msgs), "runs-after\n")

    def test_stop_on_error_false_keeps_queue(self):
        kc = self.kc
        first = kc.execute("sleep 0.2; false", stop_on_error=False)
        second = kc.execute("echo still-runs")
        self.assertEqual(ku.shell_reply(kc, first)["content"]["status"], "error")
        self.assertEqual(ku.shell_reply(kc, second)["content"]["status"], "ok")
        self.assertEqual(ku.stdout_of(ku.iopub_until_idle(kc, second)), "still-runs\n")

    def test_comms(self):
        kc = self.kc
        msg = kc.session.msg("comm_info_request", {})
        kc.shell_channel.send(msg)
        rep = ku.shell_reply(kc, msg["header"]["msg_id"])
        self.assertEqual(rep["content"], {"status": "ok", "comms": {}})
        msg = kc.session.msg("comm_open", {"comm_id": "c-123", "target_name": "nothing.here",
                                           "data": {}})
        kc.shell_channel.send(msg)
        msgs = ku.iopub_until_idle(kc, msg["header"]["msg_id"])
        self.assertEqual([m["msg_type"] for m in msgs], ["status", "comm_close", "status"])
        self.assertEqual(msgs[1]["content"]["comm_id"], "c-123")

    def test_unknown_request_ignored(self):
        # No reply, but busy and idle (a frontend waiting for idle goes on).
        kc = self.kc
        msg = kc.session.msg("frobnicate_request", {})
        kc.shell_channel.send(msg)
        msgs = ku.iopub_until_idle(kc, msg["header"]["msg_id"])
        self.assertEqual([(m["msg_type"], m["content"]["execution_state"]) for m in msgs],
                         [("status", "busy"), ("status", "idle")])
        with self.assertRaises(queue.Empty):
            kc.get_shell_msg(timeout=0.5)
        self.assertIn("ignored unsupported message 'frobnicate_request' on shell", self.log_text())
        rep, _ = ku.run(kc, "true")
        self.assertEqual(rep["content"]["status"], "ok")

    def assert_dropped(self, frames, why):
        kc = self.kc
        kc.shell_channel.socket.send_multipart(frames)
        with self.assertRaises(queue.Empty):
            kc.get_shell_msg(timeout=1.0)
        self.assertEqual(ku.drain_iopub(kc, quiet=0.3), [])  # no busy/idle either
        self.assertIn("dropped a message on shell: " + why, self.log_text())

    def test_bad_signature_unsigned_and_replay(self):
        kc = self.kc
        wrong = Session(key=b"not-the-key", username="mallory")
        self.assert_dropped(wrong.serialize(wrong.msg("kernel_info_request", {})),
                            "invalid signature")
        unsigned = Session(key=b"", username="mallory")
        self.assert_dropped(unsigned.serialize(unsigned.msg("kernel_info_request", {})),
                            "unsigned message")
        frames = kc.session.serialize(kc.session.msg("kernel_info_request", {}))
        frames[1] = frames[1][:63]
        self.assert_dropped(frames, "malformed signature (63 bytes)")
        # a genuine message is answered once; the byte-identical copy is not
        msg = kc.session.msg("kernel_info_request", {})
        frames = kc.session.serialize(msg)
        kc.shell_channel.socket.send_multipart(frames)
        rep = ku.shell_reply(kc, msg["header"]["msg_id"], timeout=5)
        self.assertEqual(rep["msg_type"], "kernel_info_reply")
        ku.drain_iopub(kc, quiet=0.3)
        self.assert_dropped(frames, "duplicate signature (replayed message)")
        # the kernel keeps serving
        rep, msgs = ku.run(kc, "echo still-here")
        self.assertEqual(ku.stdout_of(msgs), "still-here\n")

    def test_stdin_round_trip(self):
        kc = self.kc
        msg_id = kc.execute('printf "Name: "; read -r n; echo "hello $n"', allow_stdin=True)
        try:
            req = kc.get_stdin_msg(timeout=10)
        finally:
            kc.input("world")  # never leave the shared kernel waiting
        self.assertEqual(req["msg_type"], "input_request")
        self.assertEqual(req["content"]["prompt"], "Name: ")
        self.assertEqual(req["content"]["password"], False)
        self.assertEqual(req["parent_header"]["msg_id"], msg_id)
        rep = ku.shell_reply(kc, msg_id)
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(ku.stdout_of(ku.iopub_until_idle(kc, msg_id)), "hello world\n")

    def test_stdin_not_allowed_is_eof(self):
        rep, msgs = ku.run(self.kc, 'read -r n; echo "status=$? n=[$n]"', allow_stdin=False)
        self.assertEqual(ku.stdout_of(msgs), "status=1 n=[]\n")
        with self.assertRaises(queue.Empty):
            self.kc.get_stdin_msg(timeout=0.2)

    def test_interrupt_by_signal(self):
        kc = self.kc
        msg_id = kc.execute("sleep 60; echo not-reached")
        time.sleep(0.5)
        t0 = time.monotonic()
        self.km.interrupt_kernel()  # interrupt_mode "signal": SIGINT to the kernel's group
        rep = ku.shell_reply(kc, msg_id, timeout=10)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "Interrupted")
        self.assertNotIn("not-reached", ku.stdout_of(ku.iopub_until_idle(kc, msg_id)))
        rep, msgs = ku.run(kc, "echo usable")
        self.assertEqual(ku.stdout_of(msgs), "usable\n")

    def test_interrupt_while_waiting_for_input(self):
        kc = self.kc
        msg_id = kc.execute('printf "wait: "; read -r x; echo "got $x"', allow_stdin=True)
        req = kc.get_stdin_msg(timeout=10)
        self.assertEqual(req["content"]["prompt"], "wait: ")
        self.km.interrupt_kernel()
        rep = ku.shell_reply(kc, msg_id, timeout=10)
        self.assertEqual(rep["content"]["ename"], "Interrupted")
        self.assertNotIn("got", ku.stdout_of(ku.iopub_until_idle(kc, msg_id)))
        kc.input("too late")  # nobody asked any more: logged and ignored
        rep, msgs = ku.run(kc, "echo ok")
        self.assertEqual(ku.stdout_of(msgs), "ok\n")
        self.assertIn("ignored 'input_reply' on stdin (no input requested)", self.log_text())

    def test_interrupt_request_on_control_while_busy(self):
        kc = self.kc
        msg_id = kc.execute("sleep 60")
        time.sleep(0.3)
        # control is served while the cell runs: kernel_info, then interrupt
        info = kc.session.msg("kernel_info_request", {})
        kc.control_channel.send(info)
        rep = kc.get_control_msg(timeout=5)
        self.assertEqual(rep["msg_type"], "kernel_info_reply")
        self.assertEqual(rep["parent_header"]["msg_id"], info["header"]["msg_id"])
        intr = kc.session.msg("interrupt_request", {})
        kc.control_channel.send(intr)
        rep = kc.get_control_msg(timeout=5)
        self.assertEqual(rep["msg_type"], "interrupt_reply")
        self.assertEqual(rep["content"]["status"], "ok")
        rep = ku.shell_reply(kc, msg_id, timeout=10)
        self.assertEqual(rep["content"]["ename"], "Interrupted")
        msgs = ku.drain_iopub(kc, quiet=0.3)
        for parent in (info, intr):
            states = [m["content"]["execution_state"] for m in msgs
                      if m["msg_type"] == "status"
                      and m["parent_header"].get("msg_id") == parent["header"]["msg_id"]]
            self.assertEqual(states, ["busy", "idle"])

    def test_heartbeat_echo(self):
        import zmq
        ctx = zmq.Context.instance()
        req = ctx.socket(zmq.REQ)
        req.linger = 0
        req.connect("tcp://%s:%d" % (self.km.ip, self.km.hb_port))
        try:
            # answered even while a cell runs
            msg_id = self.kc.execute("sleep 0.5")
            for payload in (b"ping", b"\x00\x01binary", b"x" * 1000):
                req.send(payload)
                self.assertTrue(req.poll(5000))
                self.assertEqual(req.recv(), payload)
            self.assertEqual(ku.shell_reply(self.kc, msg_id)["content"]["status"], "ok")
        finally:
            req.close()

    def test_oversized_frame_answered(self):
        # A frame over the 32 MiB cap (here a buffer of a signed request):
        # the front drains it and the kernel answers with an error reply
        # (the connection used to be cut with no reply), then keeps serving.
        import zmq
        ctx = zmq.Context.instance()
        d = ctx.socket(zmq.DEALER)
        d.linger = 0
        d.connect("tcp://%s:%d" % (self.km.ip, self.km.shell_port))
        try:
            msg = self.kc.session.msg("kernel_info_request", {})
            frames = self.kc.session.serialize(msg) + [b"\0" * (33 << 20)]
            d.send_multipart(frames)
            self.assertEqual(d.poll(60000), zmq.POLLIN)
            rep = self.kc.session.deserialize(self.kc.session.feed_identities(
                d.recv_multipart())[1])
        finally:
            d.close()
        self.assertEqual(rep["parent_header"]["msg_id"], msg["header"]["msg_id"])
        self.assertEqual(rep["msg_type"], "kernel_info_reply")
        c = rep["content"]
        self.assertEqual((c["status"], c["ename"]), ("error", "MessageTooLarge"))
        self.assertEqual(c["evalue"], f"the request was {sum(len(f) for f in frames)} bytes; the "
                         "kernel takes at most 33554432 bytes in one frame and 50331648 in one "
                         "message (cells of up to 25165824 bytes run): it was not run")
        rep, msgs = ku.run(self.kc, "echo fine")
        self.assertEqual(ku.stdout_of(msgs), "fine\n")

    def test_complete_code_points(self):
        kc = self.kc
        code = "echo é; ech"
        msg_id = kc.complete(code, len(code))
        rep = ku.shell_reply(kc, msg_id)["content"]
        self.assertEqual(rep["matches"], ["echo"])
        self.assertEqual((rep["cursor_start"], rep["cursor_end"]), (8, 11))


class KernelHistoryTests(unittest.TestCase):
    def test_history(self):
        km, kc, _ = ku.start()
        try:
            codes = ["echo a1", "echo b2", "echo a3", "echo a1"]
            for c in codes:
                ku.run(kc, c)
            ku.run(kc, "echo hidden", store_history=False)  # count 5, not stored
            ku.run(kc, "echo s", silent=True)  # no count, not stored

            def hist(**kw):
                msg_id = kc.history(**kw)
                return ku.shell_reply(kc, msg_id)["content"]["history"]

            self.assertEqual(hist(hist_access_type="tail", n=2, output=False, raw=True),
                             [[1, 3, "echo a3"], [1, 4, "echo a1"]])
            self.assertEqual(hist(hist_access_type="tail", n=1, output=True, raw=True),
                             [[1, 4, ["echo a1", None]]])
            self.assertEqual(hist(hist_access_type="range", session=1, start=2, stop=4,
                                  output=False, raw=True),
                             [[1, 2, "echo b2"], [1, 3, "echo a3"]])
            self.assertEqual(hist(hist_access_type="range", session=0, start=4, stop=0,
                                  output=False, raw=True), [[1, 4, "echo a1"]])
            self.assertEqual(hist(hist_access_type="range", session=7, start=1, stop=9,
                                  output=False, raw=True), [])
            self.assertEqual(hist(hist_access_type="search", pattern="echo a*", output=False,
                                  raw=True),
                             [[1, 1, "echo a1"], [1, 3, "echo a3"], [1, 4, "echo a1"]])
            self.assertEqual(hist(hist_access_type="search", pattern="echo a*", unique=True,
                                  output=False, raw=True),
                             [[1, 3, "echo a3"], [1, 4, "echo a1"]])
            self.assertEqual(hist(hist_access_type="search", pattern="*", n=2, output=False,
                                  raw=True), [[1, 3, "echo a3"], [1, 4, "echo a1"]])
        finally:
            ku.stop(km, kc)


class KernelLogTests(unittest.TestCase):
    """IOPSD_KERNEL_LOG=FILE: a line per message in and out on the
    frontend's side, in the order the kernel handled them."""

    def log_of_cell(self, kernel, code):
        path = ku.tmpfile(".klog")
        km, kc, log = ku.start(env={"IOPSD_KERNEL_LOG": path}, kernel=kernel)
        try:
            rep, msgs = ku.run(kc, code)
            self.assertEqual(rep["content"]["status"], "ok")
        finally:
            ku.stop(km, kc, log)
        with open(path) as f:
            lines = f.read().splitlines()
        os.unlink(path)
        msg_id = rep["parent_header"]["msg_id"]
        for line in lines:
            self.assertRegex(line, r"^\d+\.\d{6} (in|out) (shell|control|stdin|iopub) \S+ "
                             r"id=\S+ parent=\S+$")
        mine = [l.split(" ", 1)[1] for l in lines if f"id={msg_id} " in l or
                l.endswith(f"parent={msg_id}")]
        return [" ".join(w for w in l.split() if not w.startswith("id=")) for l in mine], msg_id

    def test_native_cell(self):
        got, msg_id = self.log_of_cell(ku.KERNEL, "echo logged")
        self.assertEqual(got, ["in shell execute_request parent=-",
                               f"out iopub status parent={msg_id}",
                               f"out iopub execute_input parent={msg_id}",
                               f"out iopub stream parent={msg_id}",
                               f"out shell execute_reply parent={msg_id}",
                               f"out iopub status parent={msg_id}"])

    def test_wrap_cell(self):
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        try:
            KernelSpecManager().get_kernel_spec("iops-python3")
        except NoSuchKernel:
            self.skipTest("no kernel spec iops-python3 (needs Debian's python3 kernel)")
        got, msg_id = self.log_of_cell("iops-python3", "print('logged')")
        # relayed as they came: the wrapped kernel's reply and idle are on
        # two sockets, so only the request's place and the set are fixed
        self.assertEqual(got[0], "in shell execute_request parent=-")
        self.assertEqual(sorted(got[1:]), sorted([f"out iopub status parent={msg_id}",
                                                  f"out iopub execute_input parent={msg_id}",
                                                  f"out iopub stream parent={msg_id}",
                                                  f"out shell execute_reply parent={msg_id}",
                                                  f"out iopub status parent={msg_id}"]))


class TwoClientsTests(unittest.TestCase):
    def test_two_clients(self):
        km, kc1, _ = ku.start()
        # A second frontend: its own session, hence its own routing identity.
        kc2 = km.client(session=Session(key=km.session.key, username="second"))
        kc2.start_channels()
        try:
            kc2.wait_for_ready(timeout=30)
            ku.drain_iopub(kc1)
            ku.drain_iopub(kc2)
            self.assertNotEqual(kc1.session.bsession, kc2.session.bsession)
            # client 2 asks for input: only client 2 is asked
            msg_id = kc2.execute('printf "? "; read -r v; echo "got $v"', allow_stdin=True)
            req = kc2.get_stdin_msg(timeout=10)
            self.assertEqual(req["parent_header"]["msg_id"], msg_id)
            with self.assertRaises(queue.Empty):
                kc1.get_stdin_msg(timeout=0.3)
            kc2.input("from-two")
            self.assertEqual(ku.shell_reply(kc2, msg_id)["content"]["status"], "ok")
            # iopub is broadcast: both see the output
            self.assertEqual(ku.stdout_of(ku.iopub_until_idle(kc2, msg_id)), "got from-two\n")
            self.assertEqual(ku.stdout_of(ku.iopub_until_idle(kc1, msg_id)), "got from-two\n")
            # client 1's reply goes to client 1 only; the session is shared
            msg_id = kc1.execute("echo $v")
            self.assertEqual(ku.shell_reply(kc1, msg_id)["content"]["status"], "ok")
            with self.assertRaises(queue.Empty):
                kc2.get_shell_msg(timeout=0.3)
            self.assertEqual(ku.stdout_of(ku.iopub_until_idle(kc2, msg_id)), "from-two\n")
        finally:
            kc2.stop_channels()
            ku.stop(km, kc1)


if __name__ == "__main__":
    unittest.main()
