"""Hostile: cells that break the shell the kernel talks to. `ulimit -n 62`
(or lower), a function named `builtin`, `shopt -s extdebug; trap 'return 1'
DEBUG` and `kill -STOP $$` used to leave no reply, no idle and an interrupt
that did nothing. Now each cell ends with a reply (an error saying what
happened) followed by idle, and the next cell runs; state is kept where the
shell can be kept (a stopped bash is continued) and the message says when it
is lost (a bash that no longer runs the kernel's commands is replaced)."""
import queue
import unittest

from hostile import HostileCase, run

LOST = "a new bash was started: variables, functions and the working directory are lost"


class BreakTheShell(HostileCase):
    def attack(self, code, ok=False, evalue=None, kept=True, stdout="", timeout=20, finish=True):
        """Sets a variable, runs code, checks its reply (run() also waits
        for idle), then the next cell: the variable is there iff kept."""
        kc = self.k.kc
        rep, _, _ = run(kc, "marker_hostile=41")
        self.assertEqual(rep["content"]["status"], "ok")
        rep, out, msgs = run(kc, code, timeout=timeout)
        c = rep["content"]
        types = [m["msg_type"] for m in msgs]
        self.assertEqual(types[-1], "status")  # idle, after the reply
        if ok:
            self.assertEqual(c["status"], "ok", c)
        else:
            self.assertEqual((c["status"], c["ename"]), ("error", "ShellFault"), c)
            self.assertEqual(c["evalue"], evalue)
            errs = [m["content"] for m in msgs if m["msg_type"] == "error"]
            self.assertEqual([e["evalue"] for e in errs], [evalue])
            notes = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream"
                            and m["content"]["name"] == "stderr")
            self.assertIn(f"[iopsd: {evalue}]\n", notes)
        self.assertEqual(out, stdout)
        rep, out, _ = run(kc, 'echo "next-$marker_hostile"')
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(out, "next-41\n" if kept else "next-\n")
        if finish:
            self.finish(code)

    def finish(self, what):
        self.assert_healthy(f"after {what!r}")
        self.assert_clean_shutdown()

    def test_ulimit_62(self):
        self.attack("ulimit -n 62", kept=False,
                    evalue="bash stopped answering the kernel: its descriptor limit is now 62 "
                    "(ulimit -n), below the descriptors 60 to 62 the kernel talks to it "
                    f"through; {LOST}")

    def test_ulimit_10(self):
        self.attack("ulimit -n 10; echo before", kept=False, stdout="before\n",
                    evalue="bash stopped answering the kernel: its descriptor limit is now 10 "
                    "(ulimit -n), below the descriptors 60 to 62 the kernel talks to it "
                    f"through; {LOST}")

    CHANGED = ("bash stopped answering the kernel: the cell changed something the kernel's "
               "commands rely on, such as a function named builtin or a DEBUG trap that skips "
               f"commands; {LOST}")

    def test_function_named_builtin(self):
        self.attack("builtin() { :; }", kept=False, evalue=self.CHANGED)

    def test_debug_trap_skipping_every_command(self):
        self.attack("shopt -s extdebug; trap 'return 1' DEBUG", kept=False, evalue=self.CHANGED)

    def test_builtin_under_the_tracer_window(self):
        # the measured cell's gate and eval go through `builtin` as well
        self.attack("%%iops -b proc\nbuiltin() { :; }", kept=False, evalue=self.CHANGED)

    def test_sigstop_continued_state_kept(self):
        self.attack("kill -STOP $$; echo after-stop", stdout="after-stop\n",
                    evalue="bash was stopped (SIGSTOP); it was continued, and its variables "
                    "and functions are kept")

    def test_sigstop_in_measured_cell(self):
        self.attack("%%iops -b proc\nkill -STOP $$; echo after-stop", stdout="after-stop\n",
                    evalue="bash was stopped (SIGSTOP); it was continued, and its variables "
                    "and functions are kept")

    def test_shadowing_functions_are_harmless(self):
        self.attack("printf() { :; }; read() { :; }; kill() { :; }; eval() { :; }; "
                    "unset() { :; }; return() { :; }; command() { :; }; ulimit() { :; }",
                    ok=True, finish=False)
        rep, out, msgs = run(self.k.kc, "%%iops -b proc\necho measured")
        self.assertEqual((rep["content"]["status"], out), ("ok", "measured\n"))
        self.assertEqual(sum(m["msg_type"] in ("display_data", "update_display_data")
                             for m in msgs), 1)
        self.finish("shadowing functions")

    def test_engine_descriptors_closed(self):
        self.attack("exec 60>&- 61>&- 62>&-; echo closed", ok=True, stdout="closed\n",
                    finish=False)
        # the next measured cell opens the gate afresh
        rep, out, msgs = run(self.k.kc, "exec 60>&-")
        rep, out, msgs = run(self.k.kc, "%%iops -b proc\necho measured")
        self.assertEqual((rep["content"]["status"], out), ("ok", "measured\n"))
        stderr = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream"
                         and m["content"]["name"] == "stderr")
        self.assertEqual(stderr, "")
        self.assertEqual(sum(m["msg_type"] in ("display_data", "update_display_data")
                             for m in msgs), 1)
        self.finish("closing fd 60")

    def test_shell_options_and_traps(self):
        self.attack("set -u; set -o pipefail; trap - USR2; trap '' USR2 HUP TERM; echo set",
                    ok=True, stdout="set\n")

    def test_interrupt_of_a_stopped_bash(self):
        kc = self.k.kc
        msg_id = kc.execute("kill -STOP $$; sleep 30; echo not-reached")
        # a signal overtakes the request: interrupt once the cell runs
        while True:
            m = kc.get_iopub_msg(timeout=20)
            if (m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "execute_input"):
                break
        self.k.km.interrupt_kernel()
        while True:
            rep = kc.get_shell_msg(timeout=20)
            if rep["parent_header"].get("msg_id") == msg_id:
                break
        self.assertEqual(rep["content"]["status"], "error")
        self.assertIn(rep["content"]["ename"], ("ShellFault", "Interrupted"))
        self.finish("interrupting a stopped bash")

    def test_interrupts_escalate(self):
        """SIGINT ignored by the cell's programs and by bash: the second
        interrupt (2 s later) kills the programs, the third replaces bash."""
        kc = self.k.kc
        run(kc, "marker_hostile=41")
        msg_id = kc.execute("trap '' INT; echo armed; sleep 30; echo after-sleep; "
                            "while :; do :; done")
        # Interrupt only once the trap is set: before it, the first interrupt
        # ends the cell the ordinary way (seen under ASan, where bash is slower
        # to get there than the client is to send it).
        out = ""
        while out != "armed\n":
            m = kc.get_iopub_msg(timeout=20)
            if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream"
                    and m["content"]["name"] == "stdout"):
                out += m["content"]["text"]
        rep = None
        for interrupts in (1, 2, 3):  # more than ESCALATE_MS (2 s) apart
            self.k.km.interrupt_kernel()
            try:
                while True:
                    r = kc.get_shell_msg(timeout=2.5 if interrupts < 3 else 20)
                    if r["parent_header"].get("msg_id") == msg_id:
                        rep = r
                        break
            except queue.Empty:
                pass
            if rep is not None:
                break
        self.assertIsNotNone(rep, "no reply after 3 interrupts")
        self.assertEqual(interrupts, 3)
        self.assertEqual((rep["content"]["ename"], rep["content"]["evalue"]),
                         ("ShellFault", "bash did not stop on an interrupt (it ignores SIGINT): "
                          f"it was killed; {LOST}"))
        out = ""
        while True:
            m = kc.get_iopub_msg(timeout=10)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                out += m["content"]["text"]
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        self.assertEqual(out, "after-sleep\n")
        rep, out, _ = run(kc, 'echo "next-$marker_hostile"')
        self.assertEqual(out, "next-\n")
        self.finish("escalated interrupts")


if __name__ == "__main__":
    unittest.main()
