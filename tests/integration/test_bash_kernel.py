"""The native bash engine seen through the real kernel, over jupyter_client:
stdin round trip, interrupt of `sleep 60`, 100 MB of output arriving whole
with the kernel's memory bounded, invalid UTF-8 repaired, completion and
inspection of what earlier cells defined, and shutdown / restart leaving no
process behind.

Needs JUPYTER_PATH pointing at a data dir holding kernels/iops-bash (ctest
sets it to the build tree). IOPSD_SANITIZED=1 scales the big output down."""
import os
import time
import unittest

from jupyter_client.manager import start_new_kernel

KERNEL = "iops-bash"
TIMEOUT = 30
QUIET_LIMIT = 20  # seconds without any message of the cell: something was lost


def alive(pid):
    """True when pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


class Cell:
    """What one execute_request produced."""

    def __init__(self):
        self.stdout = ""
        self.stderr = ""
        self.stdout_bytes = 0
        self.stream_msgs = 0
        self.errors = []
        self.reply = None


def run(kc, code, allow_stdin=False, answers=None, on_stream=None, interrupt=None,
        timeout=TIMEOUT):
    """Executes code, answering input requests from `answers` and calling
    interrupt() once the cell has started, and returns a Cell."""
    cell = Cell()
    prompts = []
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
    deadline = time.monotonic() + timeout
    idle = False
    interrupted = False
    last = time.monotonic()
    while not idle:
        now = time.monotonic()
        if now > deadline:
            raise AssertionError("cell did not finish in %d s: %r" % (timeout, code))
        if now - last > QUIET_LIMIT and (interrupt is None or interrupted):
            raise AssertionError("no iopub message for %d s (lost?) after %d stream messages: %r"
                                 % (QUIET_LIMIT, cell.stream_msgs, code))
        if allow_stdin:
            try:
                req = kc.get_stdin_msg(timeout=0.01)
                if req["msg_type"] == "input_request":
                    prompts.append(req["content"]["prompt"])
                    kc.input(answers.pop(0))
            except Exception:  # queue.Empty
                pass
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except Exception:
            if interrupt and not interrupted:
                interrupt()
                interrupted = True
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        last = time.monotonic()
        t = msg["msg_type"]
        if t == "stream":
            text = msg["content"]["text"]
            cell.stream_msgs += 1
            if on_stream:
                on_stream(msg["content"]["name"], text)
            elif msg["content"]["name"] == "stdout":
                cell.stdout += text
            else:
                cell.stderr += text
        elif t == "error":
            cell.errors.append(msg["content"])
        elif t == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    cell.reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert cell.reply["parent_header"]["msg_id"] == msg_id
    cell.prompts = prompts
    return cell


class BashKernelTests(unittest.TestCase):
    def setUp(self):
        self.km, self.kc = start_new_kernel(kernel_name=KERNEL)
        self.kernel_pid = self.km.provisioner.process.pid

    def tearDown(self):
        self.kc.stop_channels()
        if self.km.is_alive():
            self.km.shutdown_kernel(now=True)

    def bash_pid(self):
        cell = run(self.kc, "echo $$")
        return int(cell.stdout)

    def test_stdin_round_trip(self):
        cell = run(self.kc, "printf 'Name: '; read x; echo \"got $x\"", allow_stdin=True,
                   answers=["bob"])
        self.assertEqual(cell.prompts, ["Name: "])
        self.assertEqual(cell.stdout, "got bob\n")
        self.assertEqual(cell.reply["content"]["status"], "ok")
        # an external program reading two lines
        cell = run(self.kc, "head -n 2", allow_stdin=True, answers=["one", "two"])
        self.assertEqual(cell.prompts, ["", ""])
        self.assertEqual(cell.stdout, "one\ntwo\n")
        # without allow_stdin: end of file, no request
        cell = run(self.kc, "read x; echo \"rc=$? x=[$x]\"", allow_stdin=False)
        self.assertEqual(cell.stdout, "rc=1 x=[]\n")
        self.assertEqual(cell.reply["content"]["status"], "ok")

    def test_interrupt_sleep(self):
        run(self.kc, "kept=41")
        start = time.monotonic()
        cell = run(self.kc, "sleep 60; echo after", interrupt=self.km.interrupt_kernel,
                   timeout=10)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(cell.stdout, "")
        self.assertEqual(cell.reply["content"]["status"], "error")
        # the session is intact
        cell = run(self.kc, "echo $((kept + 1))")
        self.assertEqual(cell.stdout, "42\n")
        self.assertEqual(cell.reply["content"]["status"], "ok")
        self.assertTrue(self.km.is_alive())

    def test_big_output(self):
        mb = 16 if os.environ.get("IOPSD_SANITIZED") in ("1", "ON", "TRUE") else 100
        size = mb << 20
        counts = {"stdout": 0, "stderr": 0, "bad": 0}

        def on_stream(name, text):
            counts[name] += len(text)
            if text.count("a") != len(text):
                counts["bad"] += 1

        rss_before = status_kb(self.kernel_pid, "VmRSS")
        cell = run(self.kc, "head -c %d /dev/zero | tr '\\0' a" % size, on_stream=on_stream,
                   timeout=300)
        self.assertEqual(cell.reply["content"]["status"], "ok")
        self.assertEqual(counts["stdout"], size)
        self.assertEqual(counts["stderr"], 0)
        self.assertEqual(counts["bad"], 0)
        hwm = status_kb(self.kernel_pid, "VmHWM")
        print("\n100 MB cell: %d stream messages, kernel VmRSS %d kB before, VmHWM %d kB"
              % (cell.stream_msgs, rss_before, hwm))
        # bounded: far below the output size (the kernel never holds it all)
        self.assertLess(hwm, 64 * 1024 if mb == 100 else 256 * 1024)

    def test_invalid_utf8(self):
        cell = run(self.kc, "printf 'a\\377b\\n'; printf '\\342\\202'; sleep 0.1; "
                            "printf '\\254\\n'; printf 'x\\300\\n' >&2")
        self.assertEqual(cell.stdout, "a\ufffdb\n\u20ac\n")
        self.assertEqual(cell.stderr, "x\ufffd\n")

    def test_complete_inspect_is_complete(self):
        run(self.kc, "myfn_abc() { :; }; myvar_abc=1; cd /")
        reply = self.kc.complete("myfn_a", 6, reply=True, timeout=TIMEOUT)["content"]
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(reply["matches"], ["myfn_abc"])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (0, 6))
        reply = self.kc.complete("echo é $myvar_a", 15, reply=True, timeout=TIMEOUT)["content"]
        self.assertEqual(reply["matches"], ["$myvar_abc"])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (7, 15))
        reply = self.kc.complete("ls pro", 6, reply=True, timeout=TIMEOUT)["content"]
        self.assertEqual(reply["matches"], ["proc/"])
        reply = self.kc.inspect("cd", 2, reply=True, timeout=TIMEOUT)["content"]
        self.assertTrue(reply["found"])
        self.assertIn("cd is a shell builtin", reply["data"]["text/plain"])
        msg_id = self.kc.is_complete("if true; then")
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        reply = reply["content"]
        self.assertEqual(reply["status"], "incomplete")
        self.assertEqual(reply["indent"], "    ")

    def test_shutdown_leaves_nothing(self):
        cell = run(self.kc, "sleep 1000 & echo $!; (trap '' HUP TERM; exec sleep 1001) & "
                            "echo $!; echo $$")
        pids = [int(p) for p in cell.stdout.split()]
        self.assertEqual(len(pids), 3)
        self.assertEqual([p for p in pids if not alive(p)], [])
        self.km.shutdown_kernel()
        self.assertEqual(wait_gone(pids + [self.kernel_pid], 2.5), [])

    def test_restart_leaves_nothing(self):
        run(self.kc, "gone=1")
        cell = run(self.kc, "sleep 1000 & echo $!; echo $$")
        pids = [int(p) for p in cell.stdout.split()]
        self.km.restart_kernel()
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)
        self.kernel_pid = self.km.provisioner.process.pid
        self.assertEqual(wait_gone(pids, 2.5), [])
        cell = run(self.kc, "echo \"gone=[$gone]\"")
        self.assertEqual(cell.stdout, "gone=[]\n")


if __name__ == "__main__":
    unittest.main()
