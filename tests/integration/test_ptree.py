"""The per-process table (`per_process` in the report) on a known tree: a
shell runs two writers (100 and 300 writes of 4 KiB) and `iowork orphan`,
whose grandchild writes 50 x 4 KiB after its parent exited (an orphan that
iopsd's subreaper inherits). tests/helpers/iowork is static: its I/O is
exactly what its source says; the shell's own reads (the dynamic loader's)
are not asserted, only that every row adds up to the report's totals."""
import json
import os
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.path.join(BIN, "iopsd")
W = os.path.join(BIN, "tests/helpers/iowork")
KIB4 = 4096


def measure(backend, script):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        p = subprocess.run([IOPSD, "measure", "--backend", backend, "--json", j.name, "--",
                            "/bin/sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        with open(j.name) as f:
            return json.load(f), p


class ProcessTree(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        d = self._dir.name
        self.script = (f"{W} write {d}/A 4096 100; {W} write {d}/B 4096 300; "
                       f"{W} orphan {d}/C 4096 50")

    def tearDown(self):
        self._dir.cleanup()

    def assert_sums(self, r):
        rows = r["per_process"]["rows"]
        for k in ("read_ops", "write_ops", "read_bytes", "write_bytes"):
            self.assertEqual(sum(p[k] for p in rows), r["io"][k], k)

    def test_trace_rows_exact(self):
        r, p = measure("trace", self.script)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(r["per_process"]["includes_reaped_children"])
        self.assertEqual(r["per_process"]["dropped"], 0)
        rows = r["per_process"]["rows"]
        # sh, two writers, iowork orphan, its child, the orphaned grandchild
        self.assertEqual(len(rows), 6)
        self.assertEqual(r["processes"], 6)
        by_pid = {p["pid"]: p for p in rows}
        sh = rows[0]
        self.assertTrue(sh["command"].startswith("/bin/sh -c "))
        self.assertEqual(sh["write_ops"], 0)
        a = [p for p in rows if p["command"].endswith("/A 4096 100")]
        b = [p for p in rows if p["command"].endswith("/B 4096 300")]
        o = [p for p in rows[1:] if "orphan" in p["command"]]
        self.assertEqual((len(a), len(b), len(o)), (1, 1, 3))
        for row, n in ((a[0], 100), (b[0], 300)):
            self.assertEqual(row["ppid"], sh["pid"])
            self.assertEqual((row["read_ops"], row["write_ops"], row["read_bytes"],
                              row["write_bytes"]), (0, n, 0, n * KIB4))
            self.assertEqual(row["exit_status"], 0)
            self.assertIsNotNone(row["end"])
            self.assertIsNotNone(row["user_seconds"])
        writer = [p for p in o if p["write_ops"]]
        self.assertEqual(len(writer), 1)
        g = writer[0]
        self.assertEqual((g["write_ops"], g["write_bytes"], g["read_ops"]), (50, 50 * KIB4, 0))
        # its parent chain: the middle process, then `iowork orphan`, then the shell
        mid = by_pid[g["ppid"]]
        top = by_pid[mid["ppid"]]
        self.assertEqual(top["ppid"], sh["pid"])
        self.assertEqual((mid["write_ops"], top["write_ops"]), (0, 0))
        self.assertEqual(r["io"]["write_ops"], 450)
        self.assertEqual(r["io"]["write_bytes"], 450 * KIB4)
        self.assert_sums(r)

    def test_proc_rows_inclusive(self):
        r, p = measure("proc", self.script)
        self.assertEqual(p.returncode, 0, p.stderr)
        pp = r["per_process"]
        self.assertTrue(pp["includes_reaped_children"])
        rows = pp["rows"]
        # what iopsd's reaper reaps: the command and the orphan
        self.assertEqual(len(rows), 2)
        sh = [p for p in rows if p["command"] and p["command"].startswith("/bin/sh -c ")]
        self.assertEqual(len(sh), 1)
        sh = sh[0]
        self.assertEqual(sh["ppid"], p_ppid(r, rows))
        # the shell reaped both writers and `iowork orphan` (whose child wrote nothing)
        self.assertEqual((sh["write_ops"], sh["write_bytes"]), (400, 400 * KIB4))
        g = [p for p in rows if p is not sh][0]
        self.assertEqual(g["command"], "iowork")
        self.assertEqual(g["ppid"], 0)  # its first parent is not known to proc
        self.assertEqual((g["read_ops"], g["write_ops"], g["read_bytes"], g["write_bytes"]),
                         (0, 50, 0, 50 * KIB4))
        self.assertEqual(g["exit_status"], 0)
        self.assertEqual(r["io"]["write_ops"], 450)
        self.assertEqual(r["io"]["write_bytes"], 450 * KIB4)
        self.assert_sums(r)

    def test_text_table(self):
        r, p = measure("trace", self.script)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stderr.splitlines()
        head = [i for i, l in enumerate(lines) if l.startswith("Processes (6, by bytes)")]
        self.assertEqual(len(head), 1, p.stderr)
        table = lines[head[0] + 1:head[0] + 7]
        # a tree: the shell, then its children indented, the grandchild deepest
        self.assertTrue(table[0].startswith("  /bin/sh -c "), table)
        # (no-break spaces indent: HTML keeps them)
        self.assertEqual(sum(1 for l in table if l.startswith("  \u2514\xa0")), 3, table)
        self.assertEqual(sum(1 for l in table if l.startswith("  " + "\xa0" * 2 + "\u2514")), 1,
                         table)
        self.assertEqual(sum(1 for l in table if l.startswith("  " + "\xa0" * 4 + "\u2514")), 1,
                         table)
        bpid = [p["pid"] for p in r["per_process"]["rows"] if p["command"].endswith("/B 4096 300")]
        b = [l for l in table if f" {bpid[0]} " in l][0]
        self.assertIn("   300 ", b)
        self.assertIn("1.17 MiB", b)


def p_ppid(r, rows):
    """The command's parent as recorded: iopsd itself (not in the table)."""
    pids = {p["pid"] for p in rows}
    ppid = [p["ppid"] for p in rows if p["ppid"] != 0][0]
    assert ppid not in pids
    return ppid


if __name__ == "__main__":
    unittest.main()
