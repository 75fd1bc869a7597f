"""%%iops --timeline in the native bash kernel: the demo run inside a cell,
its EVENT lines read from the cell's output (and still shown), the plateaus
and jumps of the cell's process tree, with both backends; a cell without
--timeline has no timeline. Run by ctest (tests/kernel.cmake)."""
import os
import unittest

from kernelutil import iopub_until_idle, shell_reply, start, stdout_of, stop

IOPSD = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "../../build/iopsd"))


def report_json(msgs):
    ds = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")
          and "application/json" in m["content"]["data"]]
    assert ds, [m["msg_type"] for m in msgs]
    return ds[-1]["content"]


class KernelTimeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc, _ = start()

    @classmethod
    def tearDownClass(cls):
        stop(cls.km, cls.kc)

    def run_cell(self, code):
        msg_id = self.kc.execute(code)
        rep = shell_reply(self.kc, msg_id, timeout=90)
        msgs = iopub_until_idle(self.kc, msg_id, timeout=90)
        self.assertEqual(rep["content"]["status"], "ok")
        return msgs

    def test_demo_in_a_cell(self):
        for backend in ("proc", "trace"):
            with self.subTest(backend=backend):
                # (LeakSanitizer, in an ASan build, cannot run under the tracer)
                msgs = self.run_cell(f"%%iops --timeline=0.05 -b {backend}\n"
                                     f"ASAN_OPTIONS=detect_leaks=0 {IOPSD} demo fds --stage 0.8;"
                                     " sleep 0.6")
                self.assertEqual(stdout_of(msgs).count("EVENT: "), 7)  # still shown
                d = report_json(msgs)
                tl = d["data"]["application/json"]["timeline"]
                self.assertEqual([e["source"] for e in tl["events"]],
                                 ["start"] + ["stdout"] * 7 + ["end"])
                base = tl["plateaus"][0]["level"]
                # (after the demo, sleep holds the same inherited descriptors: the
                # base plateau goes on until the cell ends)
                self.assertEqual([p["level"] - base for p in tl["plateaus"]],
                                 [0, 5, 13, 19, 14, 6, 0])
                self.assertEqual([j["size"] for j in tl["jumps"]], [5, 8, 6, -5, -8, -6])
                msgs_of = [e["message"] for e in tl["events"]]
                for j in tl["jumps"]:
                    self.assertEqual(j["event_message"], msgs_of[j["event"]])
                    self.assertTrue(j["event_message"].startswith(("opening", "closing")))
                self.assertFalse(tl["leak"]["flagged"])
                self.assertIn("image/png", d["data"])  # the timeline panel, any backend

    def test_analysis_options(self):
        msgs = self.run_cell("%%iops --timeline --fdprof --leak-threshold 3 -b proc\nsleep 0.7")
        tl = report_json(msgs)["data"]["application/json"]["timeline"]
        self.assertEqual(tl["analysis"]["mode"], "fdprof")
        self.assertEqual(tl["analysis"]["min_length"], 5)
        self.assertEqual(tl["leak"]["threshold"], 3.0)

    def test_no_timeline_without_the_option(self):
        msgs = self.run_cell("%%iops -b proc\necho 'EVENT: 1 x'")
        self.assertNotIn("timeline", report_json(msgs)["data"]["application/json"])

    def test_bad_value(self):
        msg_id = self.kc.execute("%%iops --timeline=0\ntrue")
        rep = shell_reply(self.kc, msg_id, timeout=30)
        iopub_until_idle(self.kc, msg_id, timeout=30)
        self.assertEqual(rep["content"]["status"], "error")


if __name__ == "__main__":
    unittest.main()
