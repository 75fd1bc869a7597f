"""`%iops auto`, `start` / `pause` / `resume` / `status` / `stop` and
`history` in Python cells through the wrap kernel (iops-python3), over
jupyter_client: the native kernel's controls (kernel_iops.c, shared), run by
iopsd, measuring the wrapped kernel's user-code thread.

With `auto` (proc), the main thread's ZeroMQ wake-ups (8-byte eventfd reads
and writes, a varying few per cell) are counted with the workload: a cell of
n unbuffered 4 KiB writes is n + e ops and 4096 n + 8 e bytes, so
bytes - 8 ops = 4088 n exactly, which pins n. The spanning measurement is
checked with the tracer, which sees the workload only: exact totals."""
import csv
import json
import os
import shutil
import tempfile
import unittest

import kernelutil as ku

KERNEL = "iops-python3"


class WrapControl(unittest.TestCase):
    def setUp(self):
        self.km, self.kc, self.log = ku.start(kernel=KERNEL)
        self.dir = tempfile.mkdtemp(prefix="iopsd-wrap-control-")
        # the kernel works in the test's directory (relative paths of
        # `history` are resolved in the wrapped kernel's cwd); also settles
        # IPython's first-cell temporary file
        rep, _ = self.cell(f"import os; os.chdir({self.dir!r})")
        self.assertEqual(rep["content"]["status"], "ok")

    def tearDown(self):
        ku.stop(self.km, self.kc, self.log)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cell(self, code):
        msg_id = self.kc.execute(code)
        rep = ku.shell_reply(self.kc, msg_id, timeout=60)
        return rep, ku.iopub_until_idle(self.kc, msg_id, timeout=60)

    def writes(self, n, name="f.bin"):
        return (f"with open({name!r}, 'wb', buffering=0) as f:\n"
                f"    for i in range({n}):\n"
                "        f.write(b'a' * 4096)\n")

    def history_json(self):
        rep, msgs = self.cell("%iops history --json h.json")
        self.assertEqual(rep["content"]["status"], "ok")
        with open(os.path.join(self.dir, "h.json")) as f:
            return json.load(f)

    def test_auto_on_three_cells_then_off(self):
        rep, msgs = self.cell("%iops auto on")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(ku.stdout_of(msgs), "%iops auto: on (every cell measured with proc)\n")
        self.assertEqual(ku.displays(msgs), [])
        counts = []
        for n in (100, 200, 300):
            rep, msgs = self.cell(self.writes(n) + f"print('wrote {n}')\n")
            self.assertEqual(rep["content"]["status"], "ok")
            counts.append(rep["content"]["execution_count"])
            types = [m["msg_type"] for m in msgs]
            # the cell's own output, then the summary, then idle
            self.assertEqual(ku.stdout_of(msgs), f"wrote {n}\n")
            ds = ku.displays(msgs)
            self.assertEqual(len(ds), 1)
            self.assertEqual(types[-2:], ["display_data", "status"])
            self.assertLess(types.index("stream"), types.index("display_data"))
            data = ds[0]["content"]["data"]
            self.assertTrue(data["text/plain"].startswith("iops: "), data["text/plain"])
            self.assertIn("<details", data["text/html"])
            # the execute_input is the wrapped kernel's, the cell as written
            inputs = [m["content"]["code"] for m in msgs if m["msg_type"] == "execute_input"]
            self.assertEqual(inputs, [self.writes(n) + f"print('wrote {n}')\n"])
        rows = self.history_json()
        self.assertEqual([r["execution_count"] for r in rows], counts)
        self.assertEqual([r["code"] for r in rows], [self.writes(1).split("\n")[0]] * 3)
        # n writes of 4,096 bytes plus e wake-ups of 8 bytes each
        self.assertEqual([r["bytes"] - 8 * r["ops"] for r in rows],
                         [4088 * 100, 4088 * 200, 4088 * 300])
        self.assertEqual(os.path.getsize(os.path.join(self.dir, "f.bin")), 300 * 4096)

        rep, msgs = self.cell("%iops auto off")
        self.assertEqual(ku.stdout_of(msgs), "%iops auto: off\n")
        rep, msgs = self.cell(self.writes(50))
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(ku.displays(msgs), [])
        self.assertEqual(len(self.history_json()), 3)  # not measured

    def test_start_status_pause_stop_equals_sum_of_cells(self):
        separately = 0
        for n in (100, 200, 300):
            rep, msgs = self.cell(f"%%iops -b trace\n{self.writes(n)}")
            separately += ku.report_of(msgs)["io"]["write_ops"]
        self.assertEqual(separately, 600)
        rep, msgs = self.cell("%iops start -b trace")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(
            ku.stdout_of(msgs),
            "%iops start: measuring the following cells (status, pause, resume, stop)\n")
        for n in (100, 200):
            rep, msgs = self.cell(self.writes(n))
            self.assertEqual(rep["content"]["status"], "ok")
            self.assertEqual(ku.displays(msgs), [])  # nothing shown while it runs
        rep, msgs = self.cell("%iops status")
        j = ku.report_of(msgs)
        self.assertEqual((j["io"]["write_ops"], j["io"]["write_bytes"]), (300, 1228800))
        self.assertEqual(j["code"], "2 cells measured with %iops start")
        rep, msgs = self.cell("%iops pause")
        self.assertEqual(ku.stdout_of(msgs), "%iops: paused\n")
        rep, msgs = self.cell(self.writes(50))  # not counted
        self.assertEqual(rep["content"]["status"], "ok")
        rep, msgs = self.cell("%iops resume")
        self.assertEqual(ku.stdout_of(msgs), "%iops: measuring again\n")
        self.cell(self.writes(300))
        rep, msgs = self.cell("%iops stop")
        self.assertEqual(rep["content"]["status"], "ok")
        j = ku.report_of(msgs)
        self.assertEqual((j["io"]["write_ops"], j["io"]["write_bytes"]), (separately, 600 * 4096))
        self.assertEqual(j["code"], "3 cells measured with %iops start")
        rep, msgs = self.cell("%iops stop")
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "UsageError")
        self.assertEqual(rep["content"]["evalue"], "%iops stop: nothing was started (%iops start)")
        # after stop, plain cells are not measured any more
        rep, msgs = self.cell(self.writes(10))
        self.assertEqual(ku.displays(msgs), [])

    def test_history_csv_and_usage(self):
        counts = []
        for n in (7, 9):
            rep, msgs = self.cell(f"%%iops -b trace\n{self.writes(n)}")
            self.assertEqual(rep["content"]["status"], "ok")
            counts.append(rep["content"]["execution_count"])
        self.cell("x = 1")  # not measured
        rep, msgs = self.cell("%iops history --csv h.csv")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertIn("2 measured cells", ku.displays(msgs)[0]["content"]["data"]["text/plain"])
        # relative to the wrapped kernel's working directory, not iopsd's
        with open(os.path.join(self.dir, "h.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["code"] for r in rows], [self.writes(1).split("\n")[0]] * 2)
        self.assertEqual([int(r["ops"]) for r in rows], [7, 9])
        self.assertEqual([int(r["bytes"]) for r in rows], [7 * 4096, 9 * 4096])
        self.assertEqual([int(r["execution_count"]) for r in rows], counts)
        # a failing control alone: UsageError, nothing reaches the wrapped kernel
        rep, msgs = self.cell("%iops pause")
        self.assertEqual(rep["content"]["ename"], "UsageError")
        self.assertEqual(rep["content"]["evalue"], "%iops pause: nothing was started (%iops start)")

    def test_control_line_among_other_lines(self):
        def run(code):
            rep, msgs = self.cell(code)
            inputs = [(m["content"]["code"], m["content"]["execution_count"])
                      for m in msgs if m["msg_type"] == "execute_input"]
            self.assertEqual(inputs, [(code, rep["content"]["execution_count"])])
            self.assertEqual([m["content"]["execution_state"] for m in msgs
                              if m["msg_type"] == "status"], ["busy", "idle"])
            return rep, msgs

        rep, msgs = run("y = 5\n%iops auto on\nprint(y)")  # before, control, after
        self.assertEqual(rep["content"]["status"], "ok")
        first = rep["content"]["execution_count"]
        self.assertEqual(ku.stdout_of(msgs), "%iops auto: on (every cell measured with proc)\n5\n")
        self.assertEqual(ku.displays(msgs), [])  # the cell of the control is not measured
        rep, msgs = run("%iops auto off\nz = y + 1")  # control first
        self.assertEqual((rep["content"]["status"], rep["content"]["execution_count"]),
                         ("ok", first + 1))
        self.assertEqual(ku.stdout_of(msgs), "%iops auto: off\n")
        rep, msgs = run("w = z\n%iops start -b trace")  # control last: iopsd takes the count
        self.assertEqual((rep["content"]["status"], rep["content"]["execution_count"]),
                         ("ok", first + 2))
        rep, msgs = run(self.writes(12))
        self.assertEqual(ku.displays(msgs), [])
        rep, msgs = run("v = w\n%iops stop")
        self.assertEqual(ku.report_of(msgs)["io"]["write_ops"], 12)
        rep, msgs = run("u = v\n%iops pause")  # fails after the line before it ran
        self.assertEqual((rep["content"]["status"], rep["content"]["ename"]),
                         ("error", "UsageError"))
        self.assertEqual(rep["content"]["execution_count"], first + 5)
        rep, msgs = run("u")
        self.assertEqual(rep["content"]["execution_count"], first + 6)
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs
                          if m["msg_type"] == "execute_result"], ["6"])

if __name__ == "__main__":
    unittest.main()
