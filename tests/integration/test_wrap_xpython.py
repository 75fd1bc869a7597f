"""A second wrapped kernel: Debian's xeus-python (package xpython, kernel spec
xpython) behind `iopsd kernel --wrap xpython` (spec iops-xpython generated
into the build tree), with the same magic tests as ipykernel's: exact counts
with the tracer (2,560 unbuffered 4 KiB writes, an empty cell at 0, %iops on
one line among others), storage bytes exact with proc (against what the
writing thread's /proc/thread-self/io says first-hand). xeus-python takes
only tcp endpoints from a connection file (it aborts on ipc): iopsd starts it
again on 127.0.0.1 ports, which the log says."""
import os
import tempfile
import time
import unittest

import kernelutil as ku

KERNEL = "iops-xpython"


class WrapXPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log_path = ku.tmpfile(".log")
        cls.km, cls.kc, cls.log = ku.start(kernel=KERNEL, stderr_path=cls.log_path)
        cls.tmp = tempfile.mkdtemp(prefix="iopsd-wrap-xpython-")
        # xeus-python's first cell imports getpass (2 reads of its .pyc,
        # seen when that cell is measured): run one first, as for IPython.
        rep, _ = cls.run_cell(cls, "pass")
        assert rep["content"]["status"] == "ok", rep

    @classmethod
    def tearDownClass(cls):
        ku.stop(cls.km, cls.kc, cls.log)
        os.unlink(cls.log_path)
        for f in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, f))
        os.rmdir(cls.tmp)

    def run_cell(self, code):
        msg_id = self.kc.execute(code)
        rep = ku.shell_reply(self.kc, msg_id, timeout=60)
        return rep, ku.iopub_until_idle(self.kc, msg_id, timeout=60)

    def writes(self, backend, p):
        return (f"%%iops --backend {backend}\n"
                f"with open({p!r}, 'wb', buffering=0) as f:\n"
                "    for i in range(2560):\n"
                "        f.write(b'a' * 4096)\n")

    def test_kernel_info_and_transport(self):
        rep = ku.shell_reply(self.kc, self.kc.kernel_info())["content"]
        self.assertEqual(rep["implementation"], "xeus-python")
        self.assertEqual(rep["language_info"]["name"], "python")
        self.assertIn("iopsd_version", rep)
        self.assertIn("xeus-python", rep["banner"])
        with open(self.log_path) as f:
            self.assertIn("starting it again on tcp (127.0.0.1)", f.read())

    def test_unbuffered_writes_trace_exact(self):
        p = os.path.join(self.tmp, "trace.bin")
        code = self.writes("trace", p)
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "ok")
        types = [m["msg_type"] for m in msgs]
        self.assertEqual(types.count("status"), 2)
        inputs = [m["content"] for m in msgs if m["msg_type"] == "execute_input"]
        self.assertEqual([i["code"] for i in inputs], [code])
        r = ku.report_of(msgs)
        self.assertEqual((r["backend"], r["exit_status"]), ("trace", 0))
        io = r["io"]
        self.assertEqual((io["write_ops"], io["write_bytes"], io["read_ops"], io["read_bytes"]),
                         (2560, 10485760, 0, 0))
        self.assertEqual([(f["path"], f["opens"], f["write_ops"]) for f in r["files"]],
                         [(p, 1, 2560)])

    def test_empty_cell_trace_zero(self):
        rep, msgs = self.run_cell("%%iops --backend trace\n")
        self.assertEqual(rep["content"]["status"], "ok")
        io = ku.report_of(msgs)["io"]
        self.assertEqual((io["read_ops"], io["write_ops"], io["read_bytes"], io["write_bytes"]),
                         (0, 0, 0, 0))

    def test_unbuffered_writes_proc(self):
        # Storage bytes as the kernel charged the writing thread, first-hand
        # (creating a file may also dirty an ext4 metadata block, depending
        # on the allocation state): the cell reads its own
        # /proc/thread-self/io around the workload.
        rep, _ = self.run_cell(
            "def _wb():\n"
            "    with open('/proc/thread-self/io') as f:\n"
            "        return int([l for l in f if l.startswith('write_bytes')][0].split()[1])\n")
        self.assertEqual(rep["content"]["status"], "ok")
        p = os.path.join(self.tmp, "proc.bin")
        code = self.writes("proc", p).replace("%%iops --backend proc\n",
                                              "%%iops --backend proc\n_w0 = _wb()\n")
        rep, msgs = self.run_cell(code + "print(_wb() - _w0)\n")
        self.assertEqual(rep["content"]["status"], "ok")
        charged = int(ku.stdout_of(msgs))
        self.assertGreaterEqual(charged, 10485760)  # the data's pages at least (sanity)
        r = ku.report_of(msgs)
        io = r["io"]
        self.assertEqual(r["backend"], "proc")
        self.assertEqual(io["storage_write_bytes"], charged)
        # proc cannot tell a file from an eventfd: what is above the workload
        # are the main thread's 8-byte ZeroMQ wake-ups, nothing else
        extra = io["write_ops"] - 2560
        self.assertEqual(io["write_bytes"] - 10485760, 8 * extra)

    def test_line_magic_among_lines(self):
        p = os.path.join(self.tmp, "line.bin")
        code = ("x = 1\n"
                f"%iops --backend trace open({p!r},'wb',buffering=0).write(b'a'*4096)\n"
                "print(x)")
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "ok")
        types = [m["msg_type"] for m in msgs]
        self.assertEqual(types.count("execute_input"), 1)
        self.assertEqual(types.count("status"), 2)
        inp = [m["content"] for m in msgs if m["msg_type"] == "execute_input"][0]
        self.assertEqual(inp["code"], code)
        self.assertEqual(inp["execution_count"], rep["content"]["execution_count"])
        self.assertEqual(ku.stdout_of(msgs), "1\n")
        self.assertLess(ku.report_at(types), types.index("stream"))
        io = ku.report_of(msgs)["io"]
        self.assertEqual((io["write_ops"], io["write_bytes"]), (1, 4096))


if __name__ == "__main__":
    unittest.main()
