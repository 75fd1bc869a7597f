"""Hostile: a task that cannot stop in the tree a measured cell traces.

A process in vfork cannot stop until its child execs or exits; a child that
blocks before its exec holds it for as long as it blocks. A background job
of an earlier cell in that state made the next `%%iops -b trace` cell wait
for it at the window's start, for ever: the cell got no reply and no idle,
and an interrupt did nothing. Now the window's start gives up after 5 s
(MAGIC_GIVE_UP_MS), the cell runs unmeasured and says why, and once the
job moves on cells are measured exactly again.

An interrupt during that wait ends it at once.

The same job started inside a measured cell cannot stop when the window
ends: the end gives up after 5 s too, and the report says so (the
"Not measured" table, and `unseen.end_unstopped` in its JSON).

The job: a Python process whose posix_spawn child opens a FIFO that has no
writer (a file action, before the child's exec), then runs dd: 25 writes of
4 KiB."""
import os
import re
import tempfile
import time
import unittest

from hostile import HostileCase, WrapHostileCase, run

SPAWNER = ("import os, sys\n"
           "pid = os.posix_spawn('/bin/dd', ['dd', 'of=' + sys.argv[2], 'bs=4096', "
           "'count=25', 'iflag=fullblock', 'status=none'], {'LC_ALL': 'C'}, "
           "file_actions=[(os.POSIX_SPAWN_OPEN, 0, sys.argv[1], os.O_RDONLY, 0)])\n"
           "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")

INTERRUPTED = re.compile(r"(?m)^\[iopsd: %iops: nothing was measured: cannot measure with trace: "
                         r"interrupted while attaching: task \d+( and others)? would not stop "
                         r"\(a vfork child before its exec\?\)\]$")
GAVE_UP = re.compile(r"^\[iopsd: %iops: nothing was measured: cannot measure with trace: task "
                     r"\d+( and others)? did not stop within 5000 ms \(a vfork child before its "
                     r"exec\?\)\]\n$")


def report_json(msgs):
    shown = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")
             and "application/json" in m["content"]["data"]]
    return shown[-1]["content"]["data"]["application/json"] if shown else None


def stderr_of(msgs):
    return "".join(m["content"]["text"] for m in msgs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


class VforkChildThatNeverExecs:
    start_job = None      # code of a cell that starts the spawner ({spawner} {fifo}) in the background
    measured_hi = None    # a measured cell printing "hi"
    measured_writes = None  # a measured cell writing 25 x 4 KiB to {out}
    measured_spawn = None   # a measured cell that starts the spawner, waits for its vfork, prints "hi"

    def stuck_job(self):
        """Starts the spawner in the background from a cell; returns when it
        waits in vfork for its blocked child."""
        d = tempfile.mkdtemp(prefix="iopsd-vfork-")
        fifo, spawner = os.path.join(d, "fifo"), os.path.join(d, "spawner.py")
        os.mkfifo(fifo)
        with open(spawner, "w") as f:
            f.write(SPAWNER)
        rep, _, _ = run(self.k.kc, self.start_job.format(spawner=spawner, fifo=fifo))
        self.assertEqual(rep["content"]["status"], "ok")
        # the spawner reaches its vfork (the child then blocks in open)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.in_vfork(spawner):
            time.sleep(0.05)
        self.assertTrue(self.in_vfork(spawner), "the spawner never waited in vfork")
        return d, fifo, spawner

    def release(self, d, fifo, spawner):
        """The job moves on (dd reads its 25 blocks and ends; or it is gone
        already: the wrap kernel's interrupt, like ipykernel's, goes to the
        whole process group); then a measured cell is exact again."""
        w = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # never blocks
        try:
            left = 4096 * 25
            deadline = time.monotonic() + 20
            while left and time.monotonic() < deadline and self.alive(spawner):
                try:
                    left -= os.write(w, b"\0" * min(left, 4096))
                except BlockingIOError:
                    time.sleep(0.01)
            while time.monotonic() < deadline and self.alive(spawner):
                time.sleep(0.05)
            self.assertFalse(self.alive(spawner), "the job did not end")
        finally:
            os.close(w)
        rep, _, msgs = run(self.k.kc, self.measured_writes.format(out=os.path.join(d, "m.out")),
                           timeout=60)
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        io = report_json(msgs)["io"]
        self.assertEqual((io["write_ops"], io["write_bytes"]), (25, 102400))
        self.assertEqual(stderr_of(msgs), "")

    def test_interrupt_gives_up_at_once(self):
        # an interrupt during the wait ends it: no 5 s
        d, fifo, spawner = self.stuck_job()
        msg_id = self.k.kc.execute(self.measured_hi)
        time.sleep(1)
        t0 = time.monotonic()
        self.k.km.interrupt_kernel()
        msgs = []
        while not msgs or msgs[-1]["msg_type"] != "status" or \
                msgs[-1]["content"]["execution_state"] != "idle":
            m = self.k.kc.get_iopub_msg(timeout=30)
            if m["parent_header"].get("msg_id") == msg_id:
                msgs.append(m)
        took = time.monotonic() - t0
        self.assertRegex(stderr_of(msgs), INTERRUPTED)
        self.assertIsNone(report_json(msgs))
        self.assertLess(took, 4.0)  # the give-up alone takes 5 s
        self.release(d, fifo, spawner)
        self.assert_healthy("after an interrupt while the tree could not stop")
        self.assert_clean_shutdown()

    def test_measured_cell_gives_up_instead_of_hanging(self):
        d, fifo, spawner = self.stuck_job()
        t0 = time.monotonic()
        rep, out, msgs = run(self.k.kc, self.measured_hi, timeout=60)
        took = time.monotonic() - t0
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "hi\n")
        self.assertRegex(stderr_of(msgs), GAVE_UP)
        self.assertIsNone(report_json(msgs))
        self.assertGreaterEqual(took, 5.0)
        self.release(d, fifo, spawner)
        self.assert_healthy("after a cell whose tree could not stop")
        self.assert_clean_shutdown()

    def test_tree_that_cannot_stop_at_the_end(self):
        d = tempfile.mkdtemp(prefix="iopsd-vfork-")
        fifo, spawner = os.path.join(d, "fifo"), os.path.join(d, "spawner.py")
        os.mkfifo(fifo)
        with open(spawner, "w") as f:
            f.write(SPAWNER)
        t0 = time.monotonic()
        rep, out, msgs = run(self.k.kc, self.measured_spawn.format(spawner=spawner, fifo=fifo),
                             timeout=90)
        took = time.monotonic() - t0
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "hi\n")
        self.assertTrue(self.in_vfork(spawner), "the spawner was not in vfork at the end")
        self.assertGreaterEqual(took, 5.0)
        r = report_json(msgs)
        self.assertIsNotNone(r, stderr_of(msgs))
        # the spawner (in vfork) and its child (blocked in open) never stopped
        self.assertEqual(r["unseen"]["end_unstopped"], 2)
        text = [m["content"]["data"]["text/plain"] for m in msgs
                if m["msg_type"] in ("display_data", "update_display_data")
                and "text/plain" in m["content"]["data"]][-1]
        self.assertIn("2 tasks did not stop when the measurement ended (a parent waiting in vfork "
                      "for a child that has not exec'd?): a call they had under way then is not "
                      "counted", text)
        self.release(d, fifo, spawner)
        self.assert_healthy("after a cell whose tree could not stop at its end")
        self.assert_clean_shutdown()

    @staticmethod
    def spawner_state(spawner):
        """(state letter, has a child) of the live process running the
        spawner; None when there is none (gone, or a zombie)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if spawner.encode() not in f.read():
                        continue
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    kids = bool(f.read().split())
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                return state, kids
        return None

    @classmethod
    def alive(cls, spawner):
        return cls.spawner_state(spawner) is not None

    @classmethod
    def in_vfork(cls, spawner):
        """In uninterruptible sleep with a child: its vfork (D alone is also
        Python reading its modules from a cold disk)."""
        return cls.spawner_state(spawner) == ("D", True)


class BashVfork(VforkChildThatNeverExecs, HostileCase):
    start_job = "/usr/bin/python3 {spawner} {fifo} /dev/null &"
    measured_hi = "%%iops -b trace\necho hi"
    measured_writes = "%%iops -b trace\ndd if=/dev/zero of={out} bs=4096 count=25 status=none"
    measured_spawn = ("%%iops -b trace\n"
                      "/usr/bin/python3 {spawner} {fifo} /dev/null &\n"
                      "p=$!\n"
                      "for i in $(seq 400); do\n"
                      "  [ \"$(cut -d' ' -f3 /proc/$p/stat)\" = D ] && "
                      "[ -n \"$(cat /proc/$p/task/$p/children)\" ] && break\n"
                      "  sleep 0.05\n"
                      "done\n"
                      "echo hi")


class WrapVfork(VforkChildThatNeverExecs, WrapHostileCase):
    start_job = ("import subprocess\n"
                 "job = subprocess.Popen(['/usr/bin/python3', '{spawner}', '{fifo}', '/dev/null'],\n"
                 "                       stderr=subprocess.DEVNULL)")  # an interrupt reaches it
    measured_hi = "%%iops -b trace\nprint('hi')"
    measured_writes = ("%%iops -b trace\n"
                       "with open('{out}', 'wb', buffering=0) as f:\n"
                       "    for _ in range(25):\n"
                       "        f.write(bytes(4096))")
    measured_spawn = ("%%iops -b trace\n"
                      "import subprocess, time\n"
                      "job = subprocess.Popen(['/usr/bin/python3', '{spawner}', '{fifo}', "
                      "'/dev/null'], stderr=subprocess.DEVNULL)\n"
                      "def state(p):\n"
                      "    with open(f'/proc/{{p}}/stat') as f:\n"
                      "        s = f.read().rsplit(')', 1)[1].split()[0]\n"
                      "    with open(f'/proc/{{p}}/task/{{p}}/children') as f:\n"
                      "        return s, bool(f.read().split())\n"
                      "for _ in range(400):\n"
                      "    if state(job.pid) == ('D', True):\n"
                      "        break\n"
                      "    time.sleep(0.05)\n"
                      "print('hi')")


if __name__ == "__main__":
    unittest.main()
