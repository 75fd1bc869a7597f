"""`iopsd render` on saved reports, and `iopsd measure --html/--png`.

Run by ctest with /usr/bin/python3 -m unittest; IOPSD_BINARY_DIR points at
the build tree. Exact numbers: the table must show the saved counts exactly,
formatted with thousands separators and binary units."""
import html.parser
import json
import os
import struct
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("IOPSD_BINARY_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
IOPSD = os.path.join(BUILD, "iopsd")
IOWORK = os.path.join(BUILD, "tests", "helpers", "iowork")


def run(*args, **kw):
    return subprocess.run([IOPSD, *args], capture_output=True, timeout=60, **kw)


def slurp(path, mode="r"):
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        return f.read()


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
    return struct.unpack(">II", head[16:24])


class TagBalance(html.parser.HTMLParser):
    """Fails on a closing tag that does not match the open one."""
    VOID = {"img", "br", "meta", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def check_html(test, text):
    p = TagBalance()
    p.feed(text)
    p.close()
    test.assertEqual(p.errors, [])
    test.assertEqual(p.stack, [])
    test.assertNotIn("<script", text)
    test.assertNotIn("http://", text)
    test.assertNotIn("https://", text)


def traced_report():
    """A report as the trace backend saves it: 2,560 writes of 4,096 B."""
    return {
        "schema": "iopsd-report/1",
        "backend": "trace",
        "command": ["dd", "if=/dev/zero", "of=/tmp/f", "bs=4096", "count=2560"],
        "exit_status": 0,
        "wall_seconds": 0.05,
        "user_seconds": 0.001,
        "system_seconds": 0.04,
        "processes": 1,
        "io": {"read_ops": 2561, "write_ops": 2560, "read_bytes": 10485760,
               "write_bytes": 10485760, "storage_read_bytes": None,
               "storage_write_bytes": None, "cancelled_write_bytes": None,
               "read_errors": 0, "write_errors": 0},
        "fds": {"start": 3, "peak": 5, "end": 3, "sampled": False, "leaked": []},
        "by_kind": {"file": {"read_ops": 2561, "write_ops": 2560, "read_bytes": 10485760,
                             "write_bytes": 10485760}},
        "histogram": {
            "kinds": ["file", "blockdev"],
            "size": [
                {"lo": 0, "hi": 1, "read_ops": 1, "write_ops": 0, "read_bytes": 0,
                 "write_bytes": 0},
                {"lo": 4096, "hi": 8192, "read_ops": 2560, "write_ops": 2560,
                 "read_bytes": 10485760, "write_bytes": 10485760},
            ],
            "latency_ns": [{"lo": 1024, "hi": 2048, "read_ops": 2561, "write_ops": 2560}],
        },
        "meta_ops": {"open": 2, "close": 2},
    }


class RenderCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def save(self, doc, name="r.json"):
        p = self.path(name)
        with open(p, "w") as f:
            json.dump(doc, f)
        return p

    def test_measured_report_round_trip(self):
        """measure --json, then render: the table shows the saved numbers exactly."""
        j, h = self.path("m.json"), self.path("m.html")
        r = run("measure", "--backend", "proc", "-q", "--json", j, "--html", h, "--png",
                self.path("m.png"), "--", IOWORK, "write", self.path("out"), "4096", "2560")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.getsize(self.path("out")), 10485760)
        doc = json.loads(slurp(j))
        io = doc["io"]
        # The proc backend has no histograms: no PNG file, a clear message.
        self.assertFalse(os.path.exists(self.path("m.png")))
        self.assertIn(b"--png: no histograms to draw", r.stderr)
        html = slurp(h)
        self.assertTrue(html.startswith('<div class="iopsd">'))
        check_html(self, html)
        self.assertIn(f"{io['write_ops']:,}", html)

        r = run("render", j)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout.decode()
        self.assertTrue(text.startswith(f"iopsd report \u00b7 {doc['backend']} backend\n"))
        # The static helper writes exactly 2,560 blocks (and the kernel reads
        # its ELF headers at exec: those are reads, not writes).
        self.assertEqual(io["write_ops"], 2560)
        self.assertEqual(io["write_bytes"], 10485760)
        lines = {l.split()[0]: l for l in text.splitlines() if l.startswith("  ")}
        self.assertIn(f"{io['write_ops']:,}", lines["write"])
        self.assertIn(f"({io['write_bytes']:,} B)", lines["write"])
        self.assertIn(f"{io['read_ops'] + io['write_ops']:,}", lines["total"])

    def test_traced_report_png(self):
        """With the tracer the same run has histograms: a PNG is written, and
        the saved report renders the one 4 KiB bucket with the exact counts."""
        j, png = self.path("t.json"), self.path("t.png")
        r = run("measure", "--backend", "trace", "-q", "--json", j, "--png", png, "--",
                IOWORK, "write", self.path("out"), "4096", "2560")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(slurp(j))
        self.assertEqual(doc["io"]["write_ops"], 2560)
        self.assertEqual(doc["io"]["write_bytes"], 10485760)
        self.assertEqual([(b["lo"], b["hi"], b["write_ops"]) for b in doc["histogram"]["size"]
                          if b["write_ops"]], [(4096, 8192, 2560)])
        data = slurp(png, "rb")
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        r = run("render", "--png", self.path("again.png"), j)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(slurp(self.path("again.png"), "rb"), data)

    def test_measure_bad_output_paths(self):
        """--html/--png are opened before the command runs: a bad path fails early."""
        marker = self.path("ran")
        for opts, bad in ((["--png", "/nonexistent/x.png"], "/nonexistent/x.png"),
                          (["--html", "/nonexistent/x.html"], "/nonexistent/x.html"),
                          (["--html", self.path("ok.html"), "--png", "/nonexistent/y.png"],
                           "/nonexistent/y.png")):
            with self.subTest(bad):
                r = run("measure", *opts, "--", IOWORK, "write", marker, "1", "1")
                self.assertEqual(r.returncode, 125)
                self.assertEqual(r.stderr.decode(),
                                 f"iopsd: cannot open {bad}: No such file or directory\n")
                self.assertFalse(os.path.exists(marker))

    def test_traced_report_png_and_html(self):
        j = self.save(traced_report())
        t, h, p = self.path("t.txt"), self.path("t.html"), self.path("t.png")
        r = run("render", "--text", t, "--html", h, "--png", p, j)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(png_size(p), (1600, 1130))  # sizes + latency, at 2x
        self.assertLess(os.path.getsize(p), 60 * 1024)
        text = slurp(t)
        self.assertIn("  write              2,560   10.00 MiB (10,485,760 B)", text)
        self.assertIn("  4K\u20138K              2,560       2,560", text)
        html = slurp(h)
        check_html(self, html)
        self.assertIn('<img class="iopsd-i" width="800" height="565"', html)
        # Same input, same bytes.
        p2 = self.path("t2.png")
        self.assertEqual(run("render", "--png", p2, j).returncode, 0)
        self.assertEqual(slurp(p, "rb"), slurp(p2, "rb"))
        # --no-histograms: no size table, no image.
        r = run("render", "--no-histograms", "--html", "-", j)
        self.assertNotIn(b"<img", r.stdout)
        self.assertNotIn(b"Operation sizes", r.stdout)

    def test_png_without_histograms(self):
        doc = traced_report()
        del doc["histogram"], doc["by_kind"], doc["meta_ops"]
        doc["backend"] = "proc"
        j = self.save(doc)
        r = run("render", "--png", self.path("x.png"), j)
        self.assertEqual(r.returncode, 3)
        self.assertFalse(os.path.exists(self.path("x.png")))
        self.assertEqual(r.stderr.count(b"\n"), 1)

    def test_bad_input(self):
        cases = []
        cases.append(("missing", self.path("nope.json"), b"cannot read"))
        bad = self.path("bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        cases.append(("not json", bad, b"not JSON"))
        other = self.save({"schema": "something-else"}, "other.json")
        cases.append(("schema", other, b"not an iopsd report"))
        big = self.path("big.json")
        with open(big, "wb") as f:
            f.truncate(17 << 20)
        cases.append(("too big", big, b"larger than 16 MiB"))
        for name, path, msg in cases:
            with self.subTest(name):
                r = run("render", path)
                self.assertEqual(r.returncode, 1)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_usage(self):
        self.assertEqual(run("render").returncode, 2)
        self.assertEqual(run("render", "--bogus", "x").returncode, 2)
        self.assertEqual(run("render", "a.json", "b.json").returncode, 2)
        r = run("render", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"Usage: iopsd render", r.stdout)
        r = run("--help")
        self.assertIn(b"render", r.stdout)

    def test_golden_html_wellformed(self):
        golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../fixtures/golden")
        names = sorted(n for n in os.listdir(golden) if n.endswith(".html"))
        self.assertEqual(len(names), 9)
        for n in names:
            with self.subTest(n):
                check_html(self, slurp(os.path.join(golden, n)))

    def test_stdin(self):
        r = run("render", "-", input=json.dumps(traced_report()).encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"5,121", r.stdout)


if __name__ == "__main__":
    unittest.main()
