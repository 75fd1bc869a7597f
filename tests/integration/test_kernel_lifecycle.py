"""The bash kernel's lifecycle and resource use over jupyter_client: shutdown
and restart leave no process behind; 1,000 executions keep the kernel's
descriptors and memory flat; 100 MB of output arrives whole with the kernel's
memory bounded."""
import os
import unittest

from jupyter_client.session import Session

import kernelutil as ku

# Under ASan, freed memory waits in a quarantine (256 MiB by default), which
# would look like growth: turn it off for the memory measurements.
NO_QUARANTINE = {"ASAN_OPTIONS": "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"}


def pids_of(kc):
    """(bash pid, pid of a background sleep started by the cell)."""
    rep, msgs = ku.run(kc, "sleep 300 & echo $$ $!")
    bash_pid, sleep_pid = (int(x) for x in ku.stdout_of(msgs).split())
    return bash_pid, sleep_pid


class LifecycleTests(unittest.TestCase):
    def test_shutdown_leaves_no_process(self):
        km, kc, _ = ku.start()
        proc = km.provisioner.process
        kpid = proc.pid
        bash_pid, sleep_pid = pids_of(kc)
        self.assertFalse(ku.gone(sleep_pid, timeout=0.1))
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        # exited by itself after shutdown_request, not killed by the manager
        self.assertEqual(proc.returncode, 0)
        for pid in (kpid, bash_pid, sleep_pid):
            self.assertTrue(ku.gone(pid), "process %d survived the shutdown" % pid)

    def test_restart(self):
        km, kc, _ = ku.start()
        try:
            ku.run(kc, "X=before")
            old_kernel = ku.kernel_pid(km)
            bash_pid, sleep_pid = pids_of(kc)
            km.restart_kernel(now=False)
            for pid in (old_kernel, bash_pid, sleep_pid):
                self.assertTrue(ku.gone(pid), "process %d survived the restart" % pid)
            self.assertNotEqual(ku.kernel_pid(km), old_kernel)
            kc.wait_for_ready(timeout=30)
            ku.drain_iopub(kc)
            rep, msgs = ku.run(kc, 'echo "${X:-fresh}"')
            self.assertEqual(ku.stdout_of(msgs), "fresh\n")
            self.assertEqual(rep["content"]["execution_count"], 1)
        finally:
            ku.stop(km, kc)

    def test_shutdown_request_on_shell(self):
        km, kc, _ = ku.start()
        proc = km.provisioner.process
        bash_pid, sleep_pid = pids_of(kc)
        msg = kc.session.msg("shutdown_request", {"restart": True})
        kc.shell_channel.send(msg)
        rep = ku.shell_reply(kc, msg["header"]["msg_id"])
        self.assertEqual(rep["msg_type"], "shutdown_reply")
        self.assertEqual(rep["content"], {"status": "ok", "restart": True})
        self.assertEqual(proc.wait(timeout=10), 0)
        for pid in (bash_pid, sleep_pid):
            self.assertTrue(ku.gone(pid))
        kc.stop_channels()
        km.cleanup_resources()


    def test_ipc_transport(self):
        import tempfile
        from jupyter_client.manager import KernelManager
        d = tempfile.mkdtemp(prefix="iopsd-ipc-")
        km = KernelManager(kernel_name=ku.KERNEL, transport="ipc",
                           ip=os.path.join(d, "kernel-ipc"))
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            self.assertEqual(sorted(os.listdir(d)), ["kernel-ipc-%d" % i for i in range(1, 6)])
            rep, msgs = ku.run(kc, "echo over ipc")
            self.assertEqual(ku.stdout_of(msgs), "over ipc\n")
        finally:
            ku.stop(km, kc)
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
            os.rmdir(d)


class ResourceTests(unittest.TestCase):
    def test_1000_executions_flat(self):
        km, kc, _ = ku.start(env=NO_QUARANTINE)
        try:
            pid = ku.kernel_pid(km)
            for _ in range(200):  # warm up: allocator pools, bash's own state
                ku.run(kc, "n=$((n+1))")
            fds0 = ku.fd_count(pid)
            rss0 = ku.proc_status(pid, "VmRSS")
            for _ in range(1000):
                ku.run(kc, "n=$((n+1))")
            fds1 = ku.fd_count(pid)
            rss1 = ku.proc_status(pid, "VmRSS")
            rep, msgs = ku.run(kc, "echo $n")
            self.assertEqual(ku.stdout_of(msgs), "1200\n")
            self.assertEqual(rep["content"]["execution_count"], 1201)
            self.assertEqual(fds1, fds0)
            # 1,000 history entries are about 50 KiB; allow 512 KiB in all. ASan's
            # allocator (redzones, stack depot) adds its own: 4 MiB there.
            slack = 4096 if ku.SANITIZED else 512
            self.assertLessEqual(rss1 - rss0, slack, "VmRSS %d -> %d KiB" % (rss0, rss1))
        finally:
            ku.stop(km, kc)

    def test_100mb_output_whole_and_bounded(self):
        km, kc, _ = ku.start(env=NO_QUARANTINE)
        try:
            pid = ku.kernel_pid(km)
            total = 100 * 1000 * 1000
            msg_id = kc.execute("head -c %d /dev/zero | tr '\\0' a" % total)
            size = 0
            other = 0
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream":
                    t = m["content"]["text"]
                    size += len(t)
                    other += len(t) - t.count("a")
                elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
            self.assertEqual(ku.shell_reply(kc, msg_id)["content"]["status"], "ok")
            self.assertEqual(size, total)
            self.assertEqual(other, 0)
            peak = ku.proc_status(pid, "VmHWM")
            self.assertLess(peak, 48 * 1024, "kernel peak RSS %d KiB" % peak)
        finally:
            ku.stop(km, kc)

    def test_subscriber_that_never_reads(self):
        # A second iopub subscriber that never reads (tiny buffers): after a
        # ten-second stall the kernel stops waiting for it, and the client
        # that reads still gets every byte.
        import zmq
        log_path = ku.tmpfile(".log")
        km, kc, log = ku.start(stderr_path=log_path)
        ctx = zmq.Context.instance()
        lazy = ctx.socket(zmq.SUB)
        lazy.setsockopt(zmq.RCVHWM, 1)
        lazy.setsockopt(zmq.RCVBUF, 4096)
        lazy.setsockopt(zmq.LINGER, 0)
        lazy.setsockopt(zmq.SUBSCRIBE, b"")
        lazy.connect("tcp://%s:%d" % (km.ip, km.iopub_port))
        try:
            # connect() is asynchronous: run cells until the lazy subscriber
            # has provably received one message, so its subscription is in
            # place before the big cell (else nothing ever stalls).
            subscribed = False
            for _ in range(50):
                ku.run(kc, "true")
                if lazy.poll(200):
                    lazy.recv_multipart()
                    subscribed = True
                    break
            self.assertTrue(subscribed, "the second subscriber never got a message")
            total = 30 * 1000 * 1000
            msg_id = kc.execute("head -c %d /dev/zero | tr '\\0' b" % total)
            size, notes = 0, ""
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                    size += len(m["content"]["text"])
                elif m["msg_type"] == "stream":
                    notes += m["content"]["text"]
                elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
            self.assertEqual(size, total)
            self.assertEqual(ku.shell_reply(kc, msg_id)["content"]["status"], "ok")
            log.flush()
            with open(log_path) as f:
                text = f.read()
            self.assertEqual(text.count("an iopub subscriber has not read for 10000 ms"), 1, text)
            # The output published past it is announced in the stream.
            self.assertIn("[iopsd: output was published past a client that could not keep up",
                          notes)
        finally:
            lazy.close()
            ku.stop(km, kc, log)
            os.unlink(log_path)


if __name__ == "__main__":
    unittest.main()
