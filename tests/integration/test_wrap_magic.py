"""`%%iops` in Python cells through the wrap kernel (iops-python3: Debian's
ipykernel behind iopsd), over jupyter_client: the order of what the frontend
sees (report before execute_reply and idle, execute_input as written, only
the wrapped kernel's busy/idle), exact numbers with the tracer for the
measured file (2,560 unbuffered 4 KiB writes; their read-back, 2,561 reads
with the EOF read), an empty cell at 0, a failing cell that still shows its
report, `%iops STATEMENT` on one line among others (the cell run as parts
that look like one cell), a request queued before a measured cell not measured with it, and
usage errors and --help answered by iopsd.

Only the wrapped kernel's main thread (and what starts during the cell) is
measured: IPython's history writer and the message-moving threads are not,
so the totals are exactly the workload's."""
import json
import os
import tempfile
import time
import unittest

import kernelutil as ku

KERNEL = "iops-python3"


def file_row(report, path):
    rows = [f for f in report["files"] if f["path"] == path]
    return rows[0] if rows else None


class WrapMagic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc, cls.log = ku.start(kernel=KERNEL)
        cls.tmp = tempfile.mkdtemp(prefix="iopsd-wrap-magic-")
        # The first cell a fresh IPython runs also writes 4 bytes to a file
        # of its own in /tmp (seen in the first measured cell's table): run
        # one first, so that each test sees a settled kernel.
        ku.run(cls.kc, "pass")

    @classmethod
    def tearDownClass(cls):
        ku.stop(cls.km, cls.kc, cls.log)
        for f in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, f))
        os.rmdir(cls.tmp)

    def run_cell(self, code, **kw):
        """(reply, iopub of the request in order, shell reply's arrival
        index among them)."""
        kc = self.kc
        msg_id = kc.execute(code, **kw)
        rep = ku.shell_reply(kc, msg_id, timeout=60)
        msgs = ku.iopub_until_idle(kc, msg_id, timeout=60)
        return rep, msgs

    def test_unbuffered_writes_and_read_back_exact(self):
        p = os.path.join(self.tmp, "w.bin")
        code = ("%%iops --backend trace\n"
                f"with open({p!r}, 'wb', buffering=0) as f:\n"
                "    for i in range(2560):\n"
                "        f.write(b'\\x29\\n' * 2048)\n")
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "ok")
        types = [m["msg_type"] for m in msgs]
        # Only the wrapped kernel's busy and idle; the cell as written; the
        # report inside the cell (before idle).
        self.assertEqual(types[0], "status")
        self.assertEqual(types.count("status"), 2)
        self.assertEqual(msgs[1]["msg_type"], "execute_input")
        self.assertEqual(msgs[1]["content"]["code"], code)
        self.assertEqual(msgs[1]["content"]["execution_count"],
                         rep["content"]["execution_count"])
        # The report is the last output; when the cell ran long enough for live
        # progress, it replaces the progress display in place.
        final = msgs[-2]
        did = final["content"]["transient"]["display_id"]
        self.assertTrue(did.startswith("iops-"))
        if final["msg_type"] == "update_display_data":
            first = [m for m in msgs if m["msg_type"] == "display_data"]
            self.assertEqual(first[0]["content"]["transient"]["display_id"], did)
        else:
            self.assertEqual(final["msg_type"], "display_data")
        data = final["content"]["data"]
        self.assertEqual(sorted(data), ["application/json", "image/png", "text/html",
                                        "text/plain"])
        r = ku.report_of(msgs)
        self.assertEqual(r["backend"], "trace")
        self.assertEqual(r["exit_status"], 0)
        row = file_row(r, p)
        self.assertEqual((row["opens"], row["write_ops"], row["write_bytes"], row["read_ops"]),
                         (1, 2560, 10485760, 0))
        # nothing of ipykernel's own threads: the totals are the cell's writes
        self.assertEqual((r["io"]["write_ops"], r["io"]["write_bytes"]), (2560, 10485760))
        self.assertEqual([f["path"] for f in r["files"] if f["write_ops"]], [p])

        code = ("%%iops --backend trace\n"
                f"with open({p!r}, 'rb', buffering=0) as f:\n"
                "    while f.read(4096):\n"
                "        pass\n")
        rep, msgs = self.run_cell(code)
        r = ku.report_of(msgs)
        row = file_row(r, p)
        self.assertEqual((row["read_ops"], row["read_bytes"], row["write_ops"]),
                         (2561, 10485760, 0))

    def test_empty_cell_is_zero(self):
        rep, msgs = self.run_cell("%%iops --backend trace\n")
        self.assertEqual(rep["content"]["status"], "ok")
        io = ku.report_of(msgs)["io"]
        self.assertEqual((io["read_ops"], io["write_ops"], io["read_bytes"], io["write_bytes"]),
                         (0, 0, 0, 0))

    def test_failing_cell_still_reports(self):
        p = os.path.join(self.tmp, "fail.bin")
        code = ("%%iops --backend trace\n"
                f"with open({p!r}, 'wb', buffering=0) as f:\n"
                "    f.write(b'a' * 100)\n"
                "raise ValueError('boom')\n")
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "ValueError")
        types = [m["msg_type"] for m in msgs]
        self.assertLess(types.index("error"), ku.report_at(types))
        r = ku.report_of(msgs)
        self.assertEqual(r["exit_status"], 1)
        row = file_row(r, p)
        self.assertEqual((row["write_ops"], row["write_bytes"]), (1, 100))

    def test_failing_cell_stops_run_all(self):
        # "Run all": requests queued behind a failing %%iops cell are aborted
        # (stop_on_error), as ipykernel and the native kernel do.
        kc = self.kc
        ids = [kc.execute("%%iops --backend proc\nimport time; time.sleep(0.3); 1/0"),
               kc.execute("print('after')"),
               kc.execute("print('quiet')", stop_on_error=False)]
        replies = {}
        while len(replies) < 3:
            m = kc.get_shell_msg(timeout=30)
            replies[m["parent_header"]["msg_id"]] = m["content"]
        self.assertEqual(replies[ids[0]]["ename"], "ZeroDivisionError")
        self.assertEqual(replies[ids[1]]["status"], "error")
        self.assertEqual(replies[ids[1]]["ename"], "ExecutionAborted")
        self.assertEqual(replies[ids[2]]["status"], "error")
        self.assertEqual(replies[ids[2]]["ename"], "ExecutionAborted")
        rep, msgs = self.run_cell("print('runs again')")
        self.assertEqual(ku.stdout_of(msgs), "runs again\n")

    def test_queued_request_not_measured(self):
        before = os.path.join(self.tmp, "before.bin")
        inside = os.path.join(self.tmp, "inside.bin")
        first = self.kc.execute("import time; time.sleep(0.5)\n"
                                f"with open({before!r}, 'wb', buffering=0) as f:\n"
                                "    for i in range(100): f.write(b'b' * 4096)\n")
        second = self.kc.execute("%%iops --backend trace\n"
                                 f"with open({inside!r}, 'wb', buffering=0) as f:\n"
                                 "    for i in range(10): f.write(b'i' * 4096)\n")
        replies = {}
        while len(replies) < 2:
            m = self.kc.get_shell_msg(timeout=30)
            replies[m["parent_header"]["msg_id"]] = m
        self.assertEqual(replies[first]["content"]["status"], "ok")
        self.assertEqual(replies[second]["content"]["status"], "ok")
        msgs = ku.iopub_until_idle(self.kc, second, timeout=30)
        r = ku.report_of(msgs)
        self.assertIsNone(file_row(r, before))
        row = file_row(r, inside)
        self.assertEqual((row["write_ops"], row["write_bytes"]), (10, 40960))

    def test_usage_error_and_help(self):
        rep, msgs = self.run_cell("%%iops --no-such-option\nprint('never')")
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "UsageError")
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIn("--no-such-option", errors[0]["evalue"])
        self.assertNotIn("never", ku.stdout_of(msgs))
        rep, msgs = self.run_cell("%%iops --help")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertTrue(ku.stdout_of(msgs).startswith("Usage: %%iops"))

    def test_complete_and_inspect_in_magic_cell(self):
        # What the wrapped kernel is asked: recorded by its do_complete.
        rep, _ = self.run_cell("_k = get_ipython().kernel\n"
                               "_seen = []\n"
                               "_orig = _k.do_complete\n"
                               "def _rec(code, cursor_pos):\n"
                               "    _seen.append((code, cursor_pos))\n"
                               "    return _orig(code, cursor_pos)\n"
                               "_k.do_complete = _rec\n")
        self.assertEqual(rep["content"]["status"], "ok")
        # cursor_pos counts code points: the magic line holds a 2-byte one.
        code = "%%iops --json /tmp/r\u00e9.json\nimport o"
        msg_id = self.kc.complete(code, len(code))
        rep = ku.shell_reply(self.kc, msg_id)["content"]
        self.assertEqual(rep["status"], "ok")
        self.assertIn("os", rep["matches"])
        self.assertEqual((rep["cursor_start"], rep["cursor_end"]), (len(code) - 1, len(code)))
        plain = self.kc.complete("import o", 8)
        self.assertEqual(ku.shell_reply(self.kc, plain)["content"]["matches"], rep["matches"])
        _, msgs = self.run_cell("print(repr(_seen))")
        self.assertEqual(ku.stdout_of(msgs), "[('import o', 8), ('import o', 8)]\n")
        code = "%%iops\nzip"
        msg_id = self.kc.inspect(code, len(code))
        rep = ku.shell_reply(self.kc, msg_id)["content"]
        self.assertTrue(rep["found"])
        self.assertIn("zip", rep["data"]["text/plain"])

    def check_one_cell(self, code, rep, msgs):
        """What a cell run as parts shows the frontend: one busy first, one
        execute_input (the cell as written, the reply's count), one idle."""
        types = [m["msg_type"] for m in msgs]
        self.assertEqual(types[0], "status")
        self.assertEqual(msgs[0]["content"]["execution_state"], "busy")
        self.assertEqual(types.count("status"), 2)
        self.assertEqual(types.count("execute_input"), 1)
        self.assertEqual(types[1], "execute_input")
        self.assertEqual(msgs[1]["content"]["code"], code)
        self.assertEqual(msgs[1]["content"]["execution_count"],
                         rep["content"]["execution_count"])
        return types

    def next_count(self):
        rep, _ = self.run_cell("pass")
        return rep["content"]["execution_count"]

    def test_line_magic_among_lines_exact(self):
        # %iops on one line of a Python cell: the lines before, the line and
        # the lines after run in order; only the line is measured.
        p = os.path.join(self.tmp, "line.bin")
        code = ("x = 1\n"
                f"%iops --backend trace open({p!r},'wb',buffering=0).write(b'a'*4096)\n"
                "print(x)")
        count = self.next_count() + 1
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(rep["content"]["execution_count"], count)
        types = self.check_one_cell(code, rep, msgs)
        # the report right after the measured line, before the last part's output
        self.assertLess(ku.report_at(types), types.index("stream"))
        self.assertEqual(ku.stdout_of(msgs), "1\n")
        self.assertNotIn("execute_result", types)  # write()'s 4096 is not the last line
        r = ku.report_of(msgs)
        self.assertEqual(r["backend"], "trace")
        self.assertEqual(r["exit_status"], 0)
        row = file_row(r, p)
        self.assertEqual((row["opens"], row["write_ops"], row["write_bytes"]), (1, 1, 4096))
        self.assertEqual((r["io"]["write_ops"], r["io"]["write_bytes"], r["io"]["read_ops"]),
                         (1, 4096, 0))
        self.assertEqual(self.next_count(), count + 1)

    def test_line_magic_last_expression_shown(self):
        code = ("x = 2\nprint('before')\n%iops --backend trace print('m')\nx + 1")
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "ok")
        types = self.check_one_cell(code, rep, msgs)
        self.assertEqual(ku.stdout_of(msgs), "before\nm\n")
        results = [m["content"] for m in msgs if m["msg_type"] == "execute_result"]
        self.assertEqual(len(results), 1)  # the last part's only
        self.assertEqual(results[0]["data"]["text/plain"], "3")
        self.assertEqual(results[0]["execution_count"], rep["content"]["execution_count"])
        self.assertLess(ku.report_at(types), types.index("execute_result"))
        io = ku.report_of(msgs)["io"]
        self.assertEqual((io["write_ops"], io["read_ops"]), (0, 0))

    def test_line_magic_error_before_stops_the_cell(self):
        p = os.path.join(self.tmp, "never.bin")
        code = ("print('a')\n1/0\n"
                f"%iops --backend trace open({p!r}, 'wb').write(b'x')\nprint('after')")
        count = self.next_count() + 1
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "ZeroDivisionError")
        self.assertEqual(rep["content"]["execution_count"], count)
        self.check_one_cell(code, rep, msgs)
        self.assertEqual(ku.stdout_of(msgs), "a\n")
        self.assertIsNone(ku.report_of(msgs))
        self.assertIn("nothing was measured", ku.stdout_of(msgs, "stderr"))
        self.assertFalse(os.path.exists(p))
        # the cell took its execution count: the next one has the next number
        self.assertEqual(self.next_count(), count + 1)

    def test_line_magic_error_in_measured_line_reports(self):
        p = os.path.join(self.tmp, "err.bin")
        code = (f"%iops --backend trace open({p!r}, 'wb', buffering=0).write(b'e' * 10); 1/0\n"
                "print('after')")
        count = self.next_count() + 1
        rep, msgs = self.run_cell(code)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "ZeroDivisionError")
        self.assertEqual(rep["content"]["execution_count"], count)
        types = self.check_one_cell(code, rep, msgs)
        self.assertLess(types.index("error"), ku.report_at(types))
        self.assertEqual(ku.stdout_of(msgs), "")
        r = ku.report_of(msgs)
        self.assertEqual(r["exit_status"], 1)
        row = file_row(r, p)
        self.assertEqual((row["write_ops"], row["write_bytes"]), (1, 10))
        self.assertEqual(self.next_count(), count + 1)

    def test_line_magic_interrupted_before_the_line(self):
        p = os.path.join(self.tmp, "interrupted.bin")
        code = ("import time; time.sleep(30)\n"
                f"%iops --backend trace open({p!r}, 'wb').write(b'x')\nprint('after')")
        count = self.next_count() + 1
        msg_id = self.kc.execute(code)
        time.sleep(1.0)
        self.km.interrupt_kernel()
        rep = ku.shell_reply(self.kc, msg_id, timeout=30)
        msgs = ku.iopub_until_idle(self.kc, msg_id, timeout=30)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "KeyboardInterrupt")
        self.assertEqual(rep["content"]["execution_count"], count)
        self.check_one_cell(code, rep, msgs)
        self.assertIsNone(ku.report_of(msgs))
        self.assertEqual(ku.stdout_of(msgs), "")
        self.assertFalse(os.path.exists(p))
        self.assertEqual(self.next_count(), count + 1)

    def test_line_magic_indented_is_usage_error(self):
        rep, msgs = self.run_cell("for i in range(2):\n    %iops print(i)\n")
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "UsageError")
        self.assertIn("indented", rep["content"]["evalue"])
        self.assertEqual(ku.stdout_of(msgs), "")

    def test_plain_cells_unchanged(self):
        rep, msgs = self.run_cell("print('%iops is just text here')")
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(ku.stdout_of(msgs), "%iops is just text here\n")
        self.assertIsNone(ku.report_of(msgs))


if __name__ == "__main__":
    unittest.main()
