"""The Python notebooks of notebooks/ (python-*.ipynb), executed with the wrap
kernel (iops-python3) by `python3 -m nbconvert --execute`, as a user would:
every cell runs, each `%%iops` / `%iops` cell shows exactly one report, and
each report's application/json holds the exact counts of its known workload.
The CSV cells' counts depend on CPython's text layer: their truth is the same
code run under strace (write/read calls on table.csv and their results).
The notebooks write into a temporary directory of their own and remove it."""
import csv
import glob
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import nbformat

SOURCE = os.environ.get("IOPSD_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
NOTEBOOKS = os.path.join(SOURCE, "notebooks")


def strace_truth(code, name):
    """Runs code with /usr/bin/python3 in a fresh directory under strace;
    returns {"read": (ops, bytes), "write": (ops, bytes)} of the calls on
    files named `name`."""
    work = tempfile.mkdtemp(prefix="iopsd-nb-truth-")
    try:
        log = os.path.join(work, "strace.log")
        subprocess.run(["strace", "-f", "-y", "-e", "trace=read,write", "-o", log,
                        sys.executable, "-c", code], cwd=work, check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        out = {"read": [0, 0], "write": [0, 0]}
        pat = re.compile(r"^(?:\d+ +)?(read|write)\(\d+<([^>]*)>.*\) += (\d+)$")
        with open(log) as f:
            for line in f:
                m = pat.match(line.rstrip("\n"))
                if m and os.path.basename(m.group(2)) == name:
                    out[m.group(1)][0] += 1
                    out[m.group(1)][1] += int(m.group(3))
        return {k: tuple(v) for k, v in out.items()}
    finally:
        shutil.rmtree(work)


def body(cell):
    """A %%iops cell's code without its magic line."""
    return cell.source.split("\n", 1)[1]


class WrapNotebooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="iopsd-wrap-nb-")
        paths = sorted(glob.glob(os.path.join(NOTEBOOKS, "python-*.ipynb")))
        # IPython's history database of its own (not the user's)
        env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1",
                   IPYTHONDIR=os.path.join(cls.out, "ipython"))
        r = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                            "--ExecutePreprocessor.timeout=120", "--output-dir", cls.out]
                           + paths, capture_output=True, text=True, timeout=280, env=env)
        cls.stderr = r.stderr
        cls.rc = r.returncode
        cls.nbs = {}
        for p in paths:
            name = os.path.basename(p)
            if not name.startswith("python-"):
                continue
            done = os.path.join(cls.out, name)
            if os.path.exists(done):
                cls.nbs[name] = nbformat.read(done, 4)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out)

    def notebook(self, name):
        self.assertEqual(self.rc, 0, self.stderr[-3000:])
        nb = self.nbs[name]
        self.assertEqual(nb.metadata.kernelspec.name, "iops-python3")
        cells = [c for c in nb.cells if c.cell_type == "code"]
        # one execution count per cell, in order; no error anywhere
        self.assertEqual([c.execution_count for c in cells], list(range(1, len(cells) + 1)))
        for c in cells:
            self.assertEqual([o for o in c.outputs if o.output_type == "error"], [], c.source)
        self.assertEqual(cells[-1].outputs[-1].text, "cleaned up\n")
        reports = []
        for c in cells:
            shown = [o for o in c.outputs if o.output_type == "display_data"
                     and "application/json" in o.data]
            if "%iops" in c.source:
                self.assertEqual(len(shown), 1, c.source)
                self.assertEqual(sorted(shown[0].data), ["application/json", "image/png",
                                                         "text/html", "text/plain"])
                r = shown[0].data["application/json"]
                self.assertEqual((r["backend"], r["exit_status"]), ("trace", 0), c.source)
                reports.append((c, r))
            else:
                self.assertEqual(shown, [], c.source)
        return cells, reports

    @staticmethod
    def io(r):
        io = r["io"]
        return io["write_ops"], io["write_bytes"], io["read_ops"], io["read_bytes"]

    @staticmethod
    def stdout(cell):
        return "".join(o.text for o in cell.outputs
                       if o.output_type == "stream" and o.name == "stdout")

    def test_small_vs_large(self):
        cells, reports = self.notebook("python-small-vs-large.ipynb")
        self.assertEqual(len(reports), 4)
        (_, small), (_, large), (rc, rsmall), (rl, rlarge) = reports
        self.assertEqual(self.io(small), (1000, 100000, 0, 0))
        self.assertEqual(small["files_total"], 1000)
        self.assertEqual((small["meta_ops"]["open"], small["meta_ops"]["close"]), (1000, 1000))
        self.assertEqual({(f["opens"], f["write_ops"], f["write_bytes"]) for f in small["files"]},
                         {(1, 1, 100)})
        self.assertEqual(self.io(large), (1, 100000, 0, 0))
        self.assertEqual(large["files_total"], 1)
        self.assertEqual(large["meta_ops"]["open"], 1)
        # read(): the data, then a read that returns 0 at the end of the file
        self.assertEqual(self.io(rsmall), (0, 0, 2000, 100000))
        self.assertEqual({(f["read_ops"], f["read_bytes"]) for f in rsmall["files"]
                          if f["path"].endswith(".txt")}, {(2, 100)})
        self.assertEqual(self.stdout(rc), "100000 bytes\n")
        self.assertEqual(self.io(rlarge), (0, 0, 2, 100000))
        self.assertEqual(self.stdout(rl), "100000 bytes\n")

    def test_buffering(self):
        cells, reports = self.notebook("python-buffering.ipynb")
        self.assertEqual(len(reports), 3)
        (_, unbuf), (bc, buf), (lc, line) = reports
        self.assertEqual(self.io(unbuf), (1024, 262144, 0, 0))
        self.assertEqual([(os.path.basename(f["path"]), f["write_ops"]) for f in unbuf["files"]],
                         [("unbuffered.bin", 1024)])
        # Python's buffer is st_blksize of the file (of the temp dir's file system)
        blksize = os.stat(tempfile.gettempdir()).st_blksize
        self.assertEqual(self.stdout(bc), f"buffer size: {blksize} bytes\n")
        self.assertEqual(self.io(buf), (262144 // blksize, 262144, 0, 0))
        # %iops on one line: only that line (the open and close around it are not in it)
        self.assertEqual(self.io(line), (200, 12800, 0, 0))
        self.assertEqual((line["meta_ops"]["open"], line["meta_ops"]["close"]), (0, 0))
        results = [o for o in lc.outputs if o.output_type == "execute_result"]
        self.assertEqual([o.data["text/plain"] for o in results], ["12800"])
        self.assertEqual(results[0].execution_count, lc.execution_count)

    def test_csv(self):
        cells, reports = self.notebook("python-csv.ipynb")
        self.assertEqual(len(reports), 2)
        (wc, write), (rc, read) = reports
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(["id", "square", "name"])
        for i in range(2000):
            w.writerow([i, i * i, f"row-{i}"])
        size = len(text.getvalue().encode())
        self.assertEqual(self.stdout(wc), f"{size} bytes\n")
        self.assertEqual(self.stdout(rc), "2001 rows; last: ['1999', '3996001', 'row-1999']\n")
        truth = strace_truth("import csv, os\n" + body(wc) + "\n" + body(rc), "table.csv")
        self.assertEqual(truth["write"][1], size)
        self.assertEqual(truth["read"][1], size)
        self.assertEqual(self.io(write), truth["write"] + (0, 0))
        self.assertEqual(self.io(read), (0, 0) + truth["read"])
        for r in (write, read):
            self.assertEqual([os.path.basename(f["path"]) for f in r["files"]], ["table.csv"])

    def test_fd_leak(self):
        cells, reports = self.notebook("python-fd-leak.ipynb")
        self.assertEqual(len(reports), 2)
        (_, leak), (_, fixed) = reports
        nbytes = sum(len(f"line {i}\n") for i in range(20))
        self.assertEqual(self.io(leak), (20, nbytes, 0, 0))
        self.assertEqual((leak["meta_ops"]["open"], leak["meta_ops"]["close"]), (20, 0))
        self.assertEqual(sorted(os.path.basename(l["path"]) for l in leak["fds"]["leaked"]),
                         [f"log-{i:02d}.txt" for i in range(20)])
        self.assertEqual(self.io(fixed), (20, nbytes, 0, 0))
        self.assertEqual((fixed["meta_ops"]["open"], fixed["meta_ops"]["close"]), (20, 20))
        self.assertEqual(fixed["fds"]["leaked"], [])
        self.assertEqual(self.stdout(cells[-2]), "20 closed\n")


if __name__ == "__main__":
    unittest.main()
