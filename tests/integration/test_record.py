"""`iopsd record` and `iopsd plot` end to end: 20 samples of a gated writer
into SQLite and JSON Lines (its last sample equals /proc at the end), Procpath's
documented SQL run unchanged by the sqlite3 program, the plot's series on a
recording with known rates and on three live writers, and bad input. Run by
ctest with IOPSD and IOPSD_HELPERS set."""
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

IOPSD = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "../../build/iopsd"))
HELPERS = os.environ.get("IOPSD_HELPERS", os.path.join(os.path.dirname(IOPSD), "tests/helpers"))
REC_WRITER = os.path.join(HELPERS, "rec_writer")
IO_KEYS = ["rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes",
           "cancelled_write_bytes"]

# Procpath's README: RSS of each recorded process in MiB (4 KiB pages), one
# line per pid, the samples joined by commas.
PROCPATH_RSS = ("SELECT stat_pid, group_concat(stat_rss / 1024.0 * 4) "
                "FROM record GROUP BY stat_pid")
# Procpath's `cpu` query, as its docs describe it: per pid, the difference of
# utime + stime between consecutive records over the difference of ts, in % of
# the meta table's clock_ticks.
PROCPATH_CPU = """
SELECT ts, stat_pid pid,
       100.0 * tick_diff / (SELECT value FROM meta WHERE key = 'clock_ticks') / ts_diff value
FROM (
  SELECT ts, stat_pid,
    stat_utime + stat_stime - LAG(stat_utime + stat_stime)
      OVER (PARTITION BY stat_pid ORDER BY record_id) tick_diff,
    ts - LAG(ts) OVER (PARTITION BY stat_pid ORDER BY record_id) ts_diff
  FROM record
)
WHERE tick_diff IS NOT NULL
ORDER BY pid, ts
"""
# Procpath's docs: total RSS of the recorded processes per sample, in MiB.
PROCPATH_TOTAL_RSS = ("SELECT ts, SUM(stat_rss) / 1024.0 / 1024 * "
                      "(SELECT value FROM meta WHERE key = 'page_size') FROM record GROUP BY ts")
# The same shape for written bytes per second (Procpath's `wbs` source).
PROCPATH_WBS = """
SELECT ts, stat_pid pid, 1.0 * byte_diff / ts_diff value
FROM (
  SELECT ts, stat_pid,
    io_write_bytes - LAG(io_write_bytes) OVER (PARTITION BY stat_pid ORDER BY record_id) byte_diff,
    ts - LAG(ts) OVER (PARTITION BY stat_pid ORDER BY record_id) ts_diff
  FROM record
)
WHERE byte_diff IS NOT NULL
ORDER BY pid, ts
"""


def read_io(pid):
    with open("/proc/%d/io" % pid) as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def blocked_on_stdin(pid):
    """pid waits in read(0, ...): /proc/PID/syscall is "0 0x0 ..."."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[:2] == ["0", "0x0"]
    except OSError:
        return False


def wait_until(cond, what, timeout=30):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.005)


def load_rows(path):
    if path.endswith(".sqlite"):
        db = sqlite3.connect(path, timeout=10)
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM record ORDER BY record_id")]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        db.close()
        return rows, meta
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    return lines[1:], lines[0]["meta"]


def samples(path):
    """How many rows the recording holds so far (one process: one per sample)."""
    if not os.path.exists(path):
        return 0
    if path.endswith(".sqlite"):
        try:
            db = sqlite3.connect(path, timeout=10)
            n = db.execute("SELECT COUNT(*) FROM record").fetchone()[0]
            db.close()
            return n
        except sqlite3.OperationalError:  # the tables are not there yet
            return 0
    with open(path) as f:
        return max(0, sum(1 for line in f if line.endswith("\n")) - 1)


class Record(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def record_gated(self, name):
        """20 samples, 0.2 s apart, of a writer that does one 4 KiB write per
        byte it reads; the test feeds it a byte after each of the first five
        samples, so it is idle well before the last one."""
        db = self.path(name)
        h = subprocess.Popen([REC_WRITER, "gated", self.path("w.dat"), "4096"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            # the writer has started (a static binary reads a little at start)
            # and waits in its first read of stdin
            wait_until(lambda: blocked_on_stdin(h.pid), "the writer to wait on stdin")
            p = subprocess.Popen([IOPSD, "record", "--pid", str(h.pid), "-i", "0.2", "-r", "20",
                                  "-d", db], stderr=subprocess.PIPE)
            for k in range(1, 6):
                wait_until(lambda: samples(db) >= k, "sample %d" % k)
                h.stdin.write(b"x")
                h.stdin.flush()
                wait_until(lambda: read_io(h.pid)["syscw"] == k, "write %d" % k)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            at_end = read_io(h.pid)
            rows, meta = load_rows(db)
        finally:
            h.stdin.close()
            h.wait(timeout=30)
        self.assertEqual(h.returncode, 0)
        self.assertIn(b"20 samples, 20 rows", err)
        self.assertEqual(len(rows), 20)
        self.assertEqual([r["record_id"] for r in rows], list(range(1, 21)))
        ts = [r["ts"] for r in rows]
        self.assertEqual(ts, sorted(set(ts)))
        for r in rows:
            self.assertEqual(r["stat_pid"], h.pid)
            self.assertEqual(r["stat_ppid"], os.getpid())
            self.assertEqual(r["stat_comm"], "rec_writer")
            self.assertEqual(r["stat_num_threads"], 1)
            # stdin a pipe, stdout and stderr /dev/null, the output file
            self.assertEqual([r["fd_" + k] for k in
                              ("fifo", "chr", "reg", "anon", "dir", "blk", "lnk", "sock")],
                             [1, 2, 1, 0, 0, 0, 0, 0])
        last = rows[-1]
        # exact: the last sample holds what /proc says now (the writer is idle)
        self.assertEqual({k: last["io_" + k] for k in IO_KEYS}, at_end)
        # and the known workload over the recording: 5 reads of 1 byte, 5 writes of 4 KiB
        first = rows[0]
        self.assertEqual((last["io_wchar"] - first["io_wchar"],
                          last["io_syscw"] - first["io_syscw"]), (5 * 4096, 5))
        self.assertEqual((last["io_rchar"] - first["io_rchar"],
                          last["io_syscr"] - first["io_syscr"]), (5, 5))
        self.assertEqual((first["io_wchar"], first["io_syscw"]), (0, 0))
        self.assertEqual(last["stat_state"], "S")
        # the writes show up sample by sample: never more than one per sample
        syscw = [r["io_syscw"] for r in rows]
        self.assertEqual(syscw, sorted(syscw))
        self.assertTrue(all(b - a <= 1 for a, b in zip(syscw, syscw[1:])), syscw)
        for k in ("page_size", "clock_ticks", "platform_node", "platform_platform", "interval",
                  "recnum", "version"):
            self.assertIn(k, meta)
        self.assertEqual(int(meta["page_size"]), os.sysconf("SC_PAGE_SIZE"))
        self.assertEqual(int(meta["clock_ticks"]), os.sysconf("SC_CLK_TCK"))
        self.assertEqual((float(meta["interval"]), int(meta["recnum"])), (0.2, 20))
        return db, rows, h.pid

    def test_sqlite(self):
        db, rows, pid = self.record_gated("r.sqlite")
        # Procpath's RSS query, run unchanged by the sqlite3 program
        out = subprocess.run(["sqlite3", db, PROCPATH_RSS], capture_output=True, text=True,
                             timeout=30, check=True).stdout.splitlines()
        self.assertEqual(len(out), 1)
        got_pid, values = out[0].split("|")
        self.assertEqual(int(got_pid), pid)
        self.assertEqual([float(v) for v in values.split(",")],
                         [r["stat_rss"] / 1024.0 * 4 for r in rows])
        out = subprocess.run(["sqlite3", db, PROCPATH_TOTAL_RSS], capture_output=True, text=True,
                             timeout=30, check=True).stdout.splitlines()
        self.assertEqual([float(line.split("|")[1]) for line in out],
                         [r["stat_rss"] * os.sysconf("SC_PAGE_SIZE") / 2.0**20 for r in rows])
        # Procpath's CPU query and the same query for wbs agree with `iopsd
        # plot`'s series (without smoothing): the rates are Procpath's
        for sql, query in ((PROCPATH_CPU, "cpu"), (PROCPATH_WBS, "wbs")):
            out = subprocess.run(["sqlite3", "-separator", " ", db, sql], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.splitlines()
            self.assertEqual(len(out), 19)
            series = self.dump(db, query)["series"]
            self.assertEqual(len(series), 1)
            pts = series[0]["points"]
            self.assertEqual(len(pts), 19)
            t0 = rows[0]["ts"]
            for line, (t, v) in zip(out, pts):
                sts, spid, sval = line.split()
                self.assertEqual(int(spid), pid)
                # the sqlite3 program prints 15 significant digits: ts to 1e-5 s
                self.assertAlmostEqual(float(sts) - t0, t, delta=2e-5)
                self.assertAlmostEqual(float(sval), v, delta=1e-9 * max(1.0, abs(v)))

    def test_jsonl(self):
        path, rows, pid = self.record_gated("r.jsonl")
        with open(path) as f:
            first = json.loads(f.readline())
        self.assertEqual(list(first), ["meta"])
        # every row has every column, in the SQLite table's names
        self.assertEqual(list(rows[0])[:4], ["record_id", "ts", "stat_pid", "stat_comm"])
        self.assertEqual(len(rows[0]), 26)

    def dump(self, path, query, *opts):
        p = subprocess.run([IOPSD, "plot", "-d", path, "-q", query, "-o",
                            self.path(query + ".png"), "--dump-series", "-", *opts],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.path(query + ".png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        return json.loads(p.stdout)

    def known_rates(self):
        """Three processes writing 1000, 4000 and 2000 B/s, sampled every 0.5 s."""
        path = self.path("known.jsonl")
        rid = 0
        with open(path, "w") as f:
            f.write(json.dumps({"meta": {"page_size": "4096", "clock_ticks": "100"}}) + "\n")
            for k in range(11):
                for pid, comm, rate in ((101, "slow", 1000), (102, "fast", 4000),
                                        (103, "mid", 2000)):
                    rid += 1
                    row = {"record_id": rid, "ts": 1000.0 + 0.5 * k, "stat_pid": pid,
                           "stat_comm": comm, "stat_state": "S", "stat_ppid": 1,
                           "stat_utime": 10 * k, "stat_stime": 0, "stat_num_threads": 1,
                           "stat_rss": 256 * (pid - 100), "stat_delayacct_blkio_ticks": 0}
                    row.update({"io_" + key: 0 for key in IO_KEYS})
                    row["io_write_bytes"] = rate * k // 2
                    row["io_syscw"] = k * (pid - 100)
                    f.write(json.dumps(row) + "\n")
        return path

    def test_plot_known_rates(self):
        path = self.known_rates()
        d = self.dump(path, "wbs")
        self.assertEqual(d["unit"], "B/s")
        self.assertEqual([(s["pid"], s["comm"]) for s in d["series"]],
                         [(101, "slow"), (102, "fast"), (103, "mid")])
        for s, rate in zip(d["series"], (1000, 4000, 2000)):
            self.assertEqual(s["points"], [[0.5 * k, float(rate)] for k in range(1, 11)])
        # the lines' order, top to bottom: fast, mid, slow
        means = {s["comm"]: sum(v for _, v in s["points"]) / len(s["points"])
                 for s in d["series"]}
        self.assertEqual(sorted(means, key=means.get, reverse=True), ["fast", "mid", "slow"])
        # a window of 3: 8 points, centred in time; RDP on a flat line keeps the ends
        d = self.dump(path, "wbs", "-w", "3")
        self.assertEqual(d["series"][0]["points"], [[0.5 * k, 1000.0] for k in range(2, 10)])
        d = self.dump(path, "wbs", "-e", "0.01")
        self.assertEqual(d["series"][1]["points"], [[0.5, 4000.0], [5.0, 4000.0]])
        # levels and the other rates
        d = self.dump(path, "rss", "--pid", "102")
        self.assertEqual([s["pid"] for s in d["series"]], [102])
        self.assertEqual(d["series"][0]["points"][0], [0.0, 2.0])  # 512 pages of 4 KiB
        d = self.dump(path, "cpu")
        self.assertEqual(d["series"][0]["points"][0], [0.5, 20.0])  # 10 ticks / 0.5 s at 100 Hz
        d = self.dump(path, "iops")
        self.assertEqual([s["points"][-1][1] for s in d["series"]], [2.0, 4.0, 6.0])

    def test_plot_live_writers(self):
        """Three writers at the same pace with 4, 16 and 64 KiB writes: their
        lines come out in that order."""
        for name in ("w1", "w2", "w3"):
            os.symlink(REC_WRITER, self.path(name))
        db = self.path("live.sqlite")
        script = ("cd %s && ./w1 paced f1 4096 25 20 & cd %s && ./w2 paced f2 16384 25 20 & "
                  "cd %s && ./w3 paced f3 65536 25 20 & wait") % ((self.tmp.name,) * 3)
        p = subprocess.run([IOPSD, "record", "-q", "-i", "0.05", "-d", db, "--", "sh", "-c",
                            script], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = self.dump(db, "wbs")
        means = {s["comm"]: sum(v for _, v in s["points"]) / len(s["points"])
                 for s in d["series"] if s["comm"] in ("w1", "w2", "w3")}
        self.assertEqual(sorted(means, key=means.get), ["w1", "w2", "w3"])

    def test_spawn_exit_status_and_zombie_row(self):
        db = self.path("s.jsonl")
        p = subprocess.run([IOPSD, "record", "-q", "-i", "0.05", "-d", db, "--", REC_WRITER,
                            "paced", self.path("o"), "4096", "3", "10"], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows, meta = load_rows(db)
        self.assertIn("rec_writer", meta["command"])
        # the command's last row is its zombie, with its final counters
        last = rows[-1]
        self.assertEqual(last["stat_state"], "Z")
        self.assertEqual((last["io_wchar"], last["io_syscw"]), (3 * 4096, 3))
        p = subprocess.run([IOPSD, "record", "-q", "-i", "0.05", "-d", db, "--", "sh", "-c",
                            "exit 7"], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 7, p.stderr)
        p = subprocess.run([IOPSD, "record", "-q", "-d", db, "--", self.path("nope")],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 127)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)

    def test_pid_stop_rules(self):
        """--pid: Ctrl-C ends the recording; a tree that has gone ends it with
        --stop-without-result, and otherwise only warns (once) until --recnum."""
        h = subprocess.Popen([REC_WRITER, "gated", self.path("w.dat"), "4096"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        db = self.path("int.jsonl")
        p = subprocess.Popen([IOPSD, "record", "--pid", str(h.pid), "-i", "0.05", "-d", db],
                             stderr=subprocess.PIPE)
        wait_until(lambda: samples(db) >= 3, "3 samples")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(b"(interrupted)", err)
        n = samples(db)
        self.assertIn(b" %d samples, %d rows" % (n, n), err)
        h.stdin.close()
        h.wait(timeout=30)
        # the process has gone: nothing to record
        p = subprocess.run([IOPSD, "record", "--pid", str(h.pid), "-i", "0.05", "-d", db],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        # it goes while recorded
        h = subprocess.Popen([REC_WRITER, "gated", self.path("w.dat"), "4096"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        for opts, why in ((["--stop-without-result"], b"(the tree has exited)"),
                          (["-r", "400"], b"(--recnum reached)")):
            if h.poll() is not None:
                h = subprocess.Popen([REC_WRITER, "gated", self.path("w.dat"), "4096"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            db = self.path("stop%s.jsonl" % opts[0])
            p = subprocess.Popen([IOPSD, "record", "--pid", str(h.pid), "-i", "0.01", *opts,
                                  "-d", db], stderr=subprocess.PIPE)
            wait_until(lambda: samples(db) >= 2, "2 samples")
            h.stdin.close()
            h.wait(timeout=30)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(why, err)
            self.assertEqual(err.count(b"none of the processes is left"),
                             0 if opts[0] == "--stop-without-result" else 1, err)

    def test_spawn_signals(self):
        """-- CMD: SIGINT or SIGTERM sent to iopsd ends the recording and is
        passed on to the command, whose status iopsd exits with."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            db = self.path("sig%d.sqlite" % sig)
            p = subprocess.Popen([IOPSD, "record", "-i", "0.05", "-d", db, "--", "sleep", "60"],
                                 stderr=subprocess.PIPE)
            wait_until(lambda: samples(db) >= 2, "2 samples")
            p.send_signal(sig)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 128 + sig, err)
            self.assertIn(b"(interrupted)" if sig == signal.SIGINT else b"(terminated)", err)
            rows, _ = load_rows(db)
            self.assertEqual({r["stat_comm"] for r in rows}, {"sleep"})

    def test_many_descriptors_and_slow_pass(self):
        """A process holding up to 100,000 duplicates of its stdin pipe (the
        hard RLIMIT_NOFILE permitting): every descriptor is counted by kind,
        and a pass (one stat per descriptor) that takes longer than the 0.01 s
        interval is reported."""
        import resource
        want = min(100000, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 64)
        if want < 15000:
            self.skipTest("RLIMIT_NOFILE's hard limit is below 15,064")
        code = ("import os, resource, sys\n"
                "h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, h))\n"
                "fds = [os.dup(0) for _ in range(%d)]\n"
                "print('ready', flush=True)\n"
                "sys.stdin.read()\n") % (want + 16, want)
        h = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(h.stdout.readline(), b"ready\n")
            db = self.path("many.jsonl")
            p = subprocess.run([IOPSD, "record", "--pid", str(h.pid), "-i", "0.01", "-r", "3",
                                "-d", db], capture_output=True, timeout=120)
        finally:
            h.stdin.close()
            h.wait(timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"longer than the interval (0.01 s)", p.stderr)
        rows, _ = load_rows(db)
        self.assertEqual(len(rows), 3)
        for r in rows:
            # stdin and its duplicates are the pipe; stdout a pipe; stderr /dev/null
            self.assertEqual((r["fd_fifo"], r["fd_chr"]), (want + 2, 1))

    def test_bad_input(self):
        def fails(*args, rc=2, has=None):
            p = subprocess.run([IOPSD, *args], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, rc, p.stderr)
            lines = p.stderr.splitlines()
            self.assertTrue(lines and lines[0].startswith("iopsd: "), p.stderr)
            self.assertEqual(len([l for l in lines if not l.startswith("Try ")]), 1, p.stderr)
            if has:
                self.assertIn(has, lines[0])

        fails("plot", "-d", self.path("missing.jsonl"), "-q", "wbs", has="missing.jsonl")
        known = self.known_rates()
        fails("plot", "-d", known, "-q", "nope", has="unknown query 'nope'")
        bad = self.path("bad.jsonl")
        with open(known) as f, open(bad, "w") as g:
            lines = f.readlines()
            g.writelines(lines[:2] + ['{"record_id": 9, "ts": \n'] + lines[2:])
        fails("plot", "-d", bad, "-q", "wbs", has="line 3")
        nofd = self.path("nofd.jsonl")
        with open(nofd, "w") as g:
            g.write('{"record_id": 1, "ts": 1.5, "stat_pid": 4}\n')
        fails("plot", "-d", nofd, "-q", "fds", has="fd columns")
        notdb = self.path("x.sqlite")
        with open(notdb, "w") as g:
            g.write("not a database\n")
        fails("plot", "-d", notdb, "-q", "rss", has="x.sqlite")
        fails("record", "-i", "0.1", "--", "true", has="-d FILE")
        fails("record", "-d", self.path("a.jsonl"), "--pid", "1x")
        fails("record", "-d", self.path("a.jsonl"), "-i", "0", "--pid", "1")
        fails("record", "-d", self.path("a.jsonl"), "--pid", "1", "--", "true")
        with open("/proc/sys/kernel/pid_max") as f:
            free = int(f.read()) - 1
        while os.path.exists("/proc/%d" % free):
            free -= 1
        fails("record", "-d", self.path("a.jsonl"), "--pid", str(free), has="no process")


if __name__ == "__main__":
    unittest.main()
