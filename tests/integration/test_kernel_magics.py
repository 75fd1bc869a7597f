"""%%iops and %iops in the native bash kernel, over jupyter_client: exact
numbers of known workloads with both backends, the line magic's split, the
framing never counted, failures, bad options, interrupts of traced cells,
live progress, and a run of measured cells with flat resources."""
import json
import os
import shutil
import tempfile
import time
import unittest

from kernelutil import (SANITIZED, cpus_allowed, displays, drain_iopub, fd_count, kernel_pid,
                        proc_status, run, start, stdout_of, stop)

DD = "dd if=/dev/zero of=F bs=4096 count=2560 status=none"
BACKENDS = ("proc", "trace")


def report_of(msgs):
    """The final report: the last display carrying application/json."""
    with_json = [m for m in displays(msgs) if "application/json" in m["content"]["data"]]
    assert with_json, f"no report among {[m['msg_type'] for m in msgs]}"
    return with_json[-1]


def bash_pid(kpid):
    with open(f"/proc/{kpid}/task/{kpid}/children") as f:
        kids = [int(p) for p in f.read().split()]
    for p in kids:
        with open(f"/proc/{p}/comm") as f:
            if f.read().strip() == "bash":
                return p
    raise AssertionError(f"no bash among the kernel's children {kids}")


def file_ops(j):
    k = j["by_kind"]["file"] if "by_kind" in j else None
    return k


class MagicCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc, _ = start()
        cls.dir = tempfile.mkdtemp(prefix="iopsd-magic-")

    @classmethod
    def tearDownClass(cls):
        stop(cls.km, cls.kc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_ok(self, code, timeout=60):
        msg_id = self.kc.execute(code)
        from kernelutil import iopub_until_idle, shell_reply
        rep = shell_reply(self.kc, msg_id, timeout=timeout)
        msgs = iopub_until_idle(self.kc, msg_id, timeout=timeout)
        return rep, msgs

    def test_dd_exact_both_backends(self):
        for b in BACKENDS:
            with self.subTest(backend=b):
                rep, msgs = self.run_ok(f"%%iops -b {b}\ncd {self.dir} && {DD}")
                self.assertEqual(rep["content"]["status"], "ok")
                d = report_of(msgs)["content"]
                j = d["data"]["application/json"]
                self.assertEqual(j["schema"], "iopsd-report/1")
                self.assertEqual(j["backend"], b)
                self.assertEqual(j["io"]["write_ops"], 2560)
                self.assertEqual(j["io"]["write_bytes"], 10485760)
                self.assertEqual(j["exit_status"], 0)
                self.assertIn("text/plain", d["data"])
                self.assertIn("text/html", d["data"])
                if b == "trace":
                    self.assertEqual(sorted(d["data"]),
                                     ["application/json", "image/png", "text/html", "text/plain"])
                    self.assertIn("width", d["metadata"]["image/png"])
                    four_k = [x for x in j["histogram"]["size"] if x["lo"] == 4096]
                    self.assertEqual(len(four_k), 1)
                    self.assertEqual(four_k[0]["write_ops"], 2560)
                    self.assertEqual(four_k[0]["write_bytes"], 10485760)
                    self.assertEqual(j["by_kind"]["file"]["write_ops"], 2560)
                    rows = [f for f in j["files"] if f["path"] == os.path.join(self.dir, "F")]
                    self.assertEqual(rows[0]["write_ops"], 2560)
                # the report comes after the cell's own output, before idle
                self.assertEqual(msgs[-1]["content"]["execution_state"], "idle")

    def test_line_magic_measures_its_line_only(self):
        for b in BACKENDS:
            with self.subTest(backend=b):
                code = (f"cd {self.dir} && echo first && dd if=/dev/zero of=G bs=512 count=3 "
                        f"status=none\n%iops -b {b} {DD}\necho last; dd if=/dev/zero of=H bs=1 "
                        "count=7 status=none")
                rep, msgs = self.run_ok(code)
                self.assertEqual(rep["content"]["status"], "ok")
                kinds = [m["msg_type"] for m in msgs if m["msg_type"] in
                         ("stream", "display_data")]
                self.assertEqual(kinds, ["stream", "display_data", "stream"])
                self.assertEqual(stdout_of(msgs), "first\nlast\n")
                j = report_of(msgs)["content"]["data"]["application/json"]
                self.assertEqual(j["io"]["write_ops"], 2560)
                self.assertEqual(j["io"]["write_bytes"], 10485760)
                self.assertEqual(j["code"], DD)

    def test_empty_cell_counts_nothing(self):
        for b in BACKENDS:
            with self.subTest(backend=b):
                rep, msgs = self.run_ok(f"%%iops -b {b}\n")
                j = report_of(msgs)["content"]["data"]["application/json"]
                io = j["io"]
                self.assertEqual((io["read_ops"], io["write_ops"], io["read_bytes"],
                                  io["write_bytes"]), (0, 0, 0, 0))
                if b == "trace":
                    self.assertEqual(j["by_kind"]["file"],
                                     {"read_ops": 0, "write_ops": 0, "read_bytes": 0,
                                      "write_bytes": 0})
                    self.assertEqual(sum(j["meta_ops"].values()), 0)
                    self.assertEqual(j["files"], [])
                else:
                    self.assertEqual(io["storage_write_bytes"], 0)

    def test_echo_cell(self):
        rep, msgs = self.run_ok("%%iops -b trace\necho one\necho two")
        j = report_of(msgs)["content"]["data"]["application/json"]
        self.assertEqual(j["by_kind"]["file"]["write_ops"], 0)
        self.assertEqual(j["io"]["write_ops"], 0)  # file and blockdev kinds only
        # the output went through the kernel's pipe: pipe kind, not a file
        self.assertEqual(j["by_kind"]["pipe"]["write_ops"], 2)
        self.assertEqual(j["by_kind"]["pipe"]["write_bytes"], 8)
        rep, msgs = self.run_ok("%%iops -b proc\necho one\necho two")
        d = report_of(msgs)["content"]["data"]
        j = d["application/json"]
        self.assertEqual(j["io"]["storage_write_bytes"], 0)
        # proc cannot tell the pipe from a file: exactly the two echo writes
        self.assertEqual(j["io"]["write_ops"], 2)
        self.assertEqual(j["io"]["write_bytes"], 8)
        self.assertIn("cannot tell them apart", d["text/plain"].replace("\n  ", " "))

    def test_background_job_counted_until_the_end_and_still_running(self):
        for b in BACKENDS:
            with self.subTest(backend=b):
                rep, msgs = self.run_ok(
                    f"%%iops -b {b}\ncd {self.dir}; rm -f bg-done; (dd if=/dev/zero of=bg bs=4096 "
                    "count=100 status=none; touch bg-done; exec sleep 2) &\n"
                    "while [ ! -e bg-done ]; do sleep 0.05; done")
                j = report_of(msgs)["content"]["data"]["application/json"]
                self.assertEqual(j["still_running"], 1)
                # interactive bash says "[1] PID" on the cell's stderr: its one write
                notice = stdout_of(msgs, "stderr")
                self.assertRegex(notice, r"^\[1\] \d+\n$")
                if b == "trace":
                    self.assertEqual(j["by_kind"]["file"]["write_ops"], 100)
                    self.assertEqual(j["by_kind"]["file"]["write_bytes"], 409600)
                    self.assertEqual(j["by_kind"]["pipe"]["write_bytes"], len(notice))
                else:
                    self.assertEqual(j["io"]["write_ops"], 101)
                    self.assertEqual(j["io"]["write_bytes"], 409600 + len(notice))
                self.run_ok("wait")

    def test_failing_cell_reports_then_fails(self):
        for b in BACKENDS:
            with self.subTest(backend=b):
                rep, msgs = self.run_ok(f"%%iops -b {b}\ncd {self.dir}; {DD}; false")
                self.assertEqual(rep["content"]["status"], "error")
                self.assertEqual(rep["content"]["evalue"], "exit status 1")
                order = [m["msg_type"] for m in msgs if m["msg_type"] in ("display_data", "error")]
                self.assertEqual(order, ["display_data", "error"])
                j = report_of(msgs)["content"]["data"]["application/json"]
                self.assertEqual(j["exit_status"], 1)
                self.assertEqual(j["io"]["write_ops"], 2560)

    def test_bad_options_run_nothing(self):
        target = os.path.join(self.dir, "must-not-exist")
        for line in ("%%iops --frobnicate", "%%iops -n", "%%iops -n many", "%%iops -b nfs",
                     "%%iops --hist-kinds disks", "%%iops --json"):
            with self.subTest(line=line):
                rep, msgs = self.run_ok(f"{line}\ntouch {target}")
                self.assertEqual(rep["content"]["status"], "error")
                self.assertEqual(rep["content"]["ename"], "UsageError")
                self.assertIn("Usage: %%iops", rep["content"]["evalue"])
                self.assertFalse(os.path.exists(target))
                self.assertEqual(displays(msgs), [])

    def test_help(self):
        for line in ("%iops --help", "%%iops --help\ntouch x"):
            rep, msgs = self.run_ok(line)
            self.assertEqual(rep["content"]["status"], "ok")
            self.assertTrue(stdout_of(msgs).startswith("Usage: %%iops [OPTIONS]"))

    def test_json_file_and_quiet(self):
        rep, msgs = self.run_ok(f"%%iops -b trace -q --json rep.json\ncd {self.dir} && {DD}")
        self.assertEqual(displays(msgs), [])
        # relative to where the cell's shell was at the end
        with open(os.path.join(self.dir, "rep.json")) as f:
            j = json.load(f)
        self.assertEqual(j["io"]["write_ops"], 2560)
        self.assertEqual(j["io"]["write_bytes"], 10485760)

    def test_interrupted_traced_cell_leaves_session_untraced(self):
        kpid = kernel_pid(self.km)
        bpid = bash_pid(kpid)
        mask = cpus_allowed(kpid)  # bash's own (tests before this one traced it too)
        msg_id = self.kc.execute("%%iops -b trace\nsleep 30")
        deadline = time.monotonic() + 20
        while proc_status(bpid, "TracerPid") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the sleep
        tracer = proc_status(bpid, "TracerPid")  # a thread of the kernel's
        self.assertTrue(os.path.exists(f"/proc/{kpid}/task/{tracer}"), tracer)
        self.km.interrupt_kernel()
        from kernelutil import iopub_until_idle, shell_reply
        rep = shell_reply(self.kc, msg_id, timeout=15)
        msgs = iopub_until_idle(self.kc, msg_id)
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["ename"], "Interrupted")
        j = report_of(msgs)["content"]["data"]["application/json"]
        self.assertTrue(j["interrupted"])
        self.assertEqual(proc_status(bpid, "TracerPid"), 0)
        with open(f"/proc/{bpid}/stat") as f:
            self.assertIn(f.read().rsplit(")", 1)[1].split()[0], ("S", "R"))
        rep, msgs = self.run_ok(f"%%iops -b trace\ncd {self.dir} && {DD}")
        self.assertEqual(rep["content"]["status"], "ok")
        j = report_of(msgs)["content"]["data"]["application/json"]
        self.assertEqual(j["io"]["write_ops"], 2560)
        self.assertEqual(proc_status(bpid, "TracerPid"), 0)
        self.assertEqual(bash_pid(kpid), bpid)  # the same session, not a restarted one
        # bash ran pinned to the tracer's CPU while alone; its own mask is back
        self.assertEqual(cpus_allowed(bpid), mask)

    def test_live_progress(self):
        rep, msgs = self.run_ok(
            f"%%iops -b proc\ncd {self.dir}; for i in 1 2 3; do {DD}; sleep 1; done", timeout=60)
        self.assertEqual(rep["content"]["status"], "ok")
        ds = displays(msgs)
        self.assertEqual(ds[0]["msg_type"], "display_data")
        did = ds[0]["content"]["transient"]["display_id"]
        self.assertNotIn("application/json", ds[0]["content"]["data"])
        self.assertIn("running for", ds[0]["content"]["data"]["text/plain"])
        updates = [m for m in ds[1:] if m["msg_type"] == "update_display_data"]
        self.assertGreaterEqual(len(updates), 2)
        for m in ds:
            self.assertEqual(m["content"]["transient"]["display_id"], did)
        final = ds[-1]["content"]["data"]
        self.assertEqual(final["application/json"]["io"]["write_ops"], 3 * 2560)
        self.assertEqual(final["application/json"]["io"]["write_bytes"], 3 * 10485760)


IOWORK = os.path.join(os.environ.get("IOPSD_BINARY_DIR", ""), "tests/helpers/iowork")


class AcrossCells(unittest.TestCase):
    """%iops auto, start/pause/resume/status/stop, history (issue 15)."""

    def setUp(self):
        self.km, self.kc, _ = start()
        self.dir = tempfile.mkdtemp(prefix="iopsd-across-")
        run(self.kc, f"cd {self.dir}")

    def tearDown(self):
        stop(self.km, self.kc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cell(self, code):
        rep, msgs = run(self.kc, code)
        return rep, msgs

    def writes(self, n):
        return f"{IOWORK} write f 4096 {n}"

    def test_auto(self):
        rep, msgs = self.cell("%iops auto on")
        self.assertEqual(stdout_of(msgs), "%iops auto: on (every cell measured with proc)\n")
        lines = []
        for n in (10, 20, 30):
            rep, msgs = self.cell(self.writes(n) + f"; echo wrote {n}")
            self.assertEqual(rep["content"]["status"], "ok")
            self.assertEqual(stdout_of(msgs), f"wrote {n}\n")  # the cell's own output stays
            ds = displays(msgs)
            self.assertEqual(len(ds), 1)
            line = ds[0]["content"]["data"]["text/plain"]
            self.assertTrue(line.startswith("iops: "), line)
            self.assertIn("<details", ds[0]["content"]["data"]["text/html"])
            lines.append(line)
        # proc counts the n writes, the echo's write and the same exec reads of
        # iowork every time: the cells differ by exactly their 10 extra writes
        ops = [int(line.split(" \u00b7 ")[1].split()[0].replace(",", "")) for line in lines]
        self.assertEqual([ops[1] - ops[0], ops[2] - ops[1]], [10, 10])
        self.cell("%iops auto off")
        rep, msgs = self.cell(self.writes(5))
        self.assertEqual(displays(msgs), [])

    def test_start_status_pause_stop_equals_sum_of_cells(self):
        separately = 0
        for n in (100, 200, 300):
            rep, msgs = self.cell(f"%%iops -b trace\n{self.writes(n)}")
            separately += report_of(msgs)["content"]["data"]["application/json"]["io"]["write_ops"]
        self.assertEqual(separately, 600)
        self.cell("%iops start -b trace")
        for n in (100, 200):
            rep, msgs = self.cell(self.writes(n))
            self.assertEqual(displays(msgs), [])  # nothing shown while it runs
        rep, msgs = self.cell("%iops status")
        j = report_of(msgs)["content"]["data"]["application/json"]
        self.assertEqual((j["io"]["write_ops"], j["io"]["write_bytes"]), (300, 1228800))
        self.cell("%iops pause")
        self.cell(self.writes(50))  # not counted
        self.cell("%iops resume")
        self.cell(self.writes(300))
        rep, msgs = self.cell("%iops stop")
        j = report_of(msgs)["content"]["data"]["application/json"]
        self.assertEqual((j["io"]["write_ops"], j["io"]["write_bytes"]), (separately, 600 * 4096))
        self.assertEqual(j["code"], "3 cells measured with %iops start")
        rep, msgs = self.cell("%iops stop")
        self.assertEqual(rep["content"]["status"], "error")
        self.assertEqual(rep["content"]["evalue"], "%iops stop: nothing was started (%iops start)")

    def test_history_csv(self):
        import csv
        for n in (7, 9):
            self.cell(f"%%iops -b trace\n{self.writes(n)}")
        self.cell("echo not measured")
        rep, msgs = self.cell("%iops history --csv h.csv")
        self.assertEqual(rep["content"]["status"], "ok")
        with open(os.path.join(self.dir, "h.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["code"] for r in rows], [self.writes(7), self.writes(9)])
        self.assertEqual([int(r["ops"]) for r in rows], [7, 9])
        self.assertEqual([int(r["bytes"]) for r in rows], [7 * 4096, 9 * 4096])
        self.assertEqual([int(r["execution_count"]) for r in rows], [2, 3])
        self.assertIn("2 measured cells", displays(msgs)[0]["content"]["data"]["text/plain"])


class MagicSoak(unittest.TestCase):
    def test_200_measured_cells_flat(self):
        km, kc, _ = start()
        try:
            kpid = kernel_pid(km)
            bpid = bash_pid(kpid)

            def sample():
                # the least of a few looks: a descriptor a cell is just giving
                # back is not growth
                looks = []
                for _ in range(5):
                    looks.append((fd_count(kpid), fd_count(bpid), proc_status(kpid, "VmRSS"),
                                  proc_status(bpid, "VmRSS")))
                    time.sleep(0.05)
                return tuple(min(x) for x in zip(*looks))

            for i in range(200):
                b = BACKENDS[i % 2]
                rep, msgs = run(kc, f"%%iops -b {b}\necho {i} > /dev/null")
                self.assertEqual(rep["content"]["status"], "ok")
                if i == 19:
                    base = sample()
            end = sample()
            self.assertEqual(end[0], base[0], "kernel descriptors")
            self.assertEqual(end[1], base[1], "bash descriptors")
            if not SANITIZED:
                self.assertLess(end[2] - base[2], 2048, "kernel RSS (KiB)")
                self.assertLess(end[3] - base[3], 1024, "bash RSS (KiB)")
            drain_iopub(kc)
        finally:
            stop(km, kc)


if __name__ == "__main__":
    unittest.main()
