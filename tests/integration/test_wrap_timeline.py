"""`%%iops --timeline` in Python cells through the wrap kernel (iops-python3):
EVENT lines printed by the cell become markers (the output still shown), and
the wrapped kernel's descriptors over the cell give the plateaus and jumps of
files opened and closed in stages. (A cell's first output makes ipykernel open
one descriptor that stays: the cell prints a line before the stages.) Run by ctest (tests/wrap.cmake)."""
import unittest

import kernelutil as ku

KERNEL = "iops-python3"

CELL = """%%iops --timeline=0.05 -b proc
import time
def ev(m):
    print(f"EVENT: {time.time():.6f} {m}", flush=True)
fs = []
print("settling", flush=True)  # a cell's first output opens a descriptor in ipykernel
time.sleep(0.8)
ev("opening 5")
fs += [open("/dev/null") for _ in range(5)]
time.sleep(0.8)
ev("opening 8")
fs += [open("/dev/null") for _ in range(8)]
time.sleep(0.8)
ev("closing 8")
for f in fs[5:]:
    f.close()
time.sleep(0.8)
ev("closing 5")
for f in fs[:5]:
    f.close()
time.sleep(0.8)
"""


class WrapTimeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc, cls.log = ku.start(kernel=KERNEL)
        ku.run(cls.kc, "pass")

    @classmethod
    def tearDownClass(cls):
        ku.stop(cls.km, cls.kc, cls.log)

    def test_stages_in_a_python_cell(self):
        msg_id = self.kc.execute(CELL)
        rep = ku.shell_reply(self.kc, msg_id, timeout=60)
        msgs = ku.iopub_until_idle(self.kc, msg_id, timeout=60)
        self.assertEqual(rep["content"]["status"], "ok")
        tl = ku.report_of(msgs)["timeline"]
        out = ku.stdout_of(msgs)
        self.assertEqual(out.count("EVENT: "), 4)  # still shown
        self.assertEqual([e["message"] for e in tl["events"]],
                         ["cell start", "opening 5", "opening 8", "closing 8", "closing 5",
                          "cell end"])
        self.assertEqual([j["size"] for j in tl["jumps"]], [5, 8, -8, -5])
        self.assertEqual([j["event_message"] for j in tl["jumps"]],
                         ["opening 5", "opening 8", "closing 8", "closing 5"])
        base = tl["plateaus"][0]["level"]
        self.assertEqual([p["level"] - base for p in tl["plateaus"]], [0, 5, 13, 5, 0])


if __name__ == "__main__":
    unittest.main()
