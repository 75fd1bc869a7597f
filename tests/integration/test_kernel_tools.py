"""`iopsd kernel` and `iopsd install` from the command line, and the kernel
driven by Jupyter's own tools: `jupyter console` (scripted) and `jupyter
nbconvert --execute` on notebooks/bash-demo.ipynb."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import nbformat

IOPSD = os.environ.get("IOPSD", os.path.join(os.path.dirname(__file__), "../../build/iopsd"))
SOURCE = os.environ.get("IOPSD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
GOOD = {"shell_port": 50101, "iopub_port": 50102, "stdin_port": 50103, "control_port": 50104,
        "hb_port": 50105, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
        "signature_scheme": "hmac-sha256"}


def iopsd(*args, **kw):
    return subprocess.run([IOPSD, *args], capture_output=True, text=True, timeout=30, **kw)


class ConnectionFileErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iopsd-connfile-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def kernel_with(self, text):
        path = os.path.join(self.dir, "conn.json")
        with open(path, "w") as f:
            f.write(text)
        return iopsd("kernel", "-f", path), path

    def check(self, text, message):
        r, path = self.kernel_with(text)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "iopsd: connection file %s: %s\n" % (path, message))
        self.assertEqual(r.stdout, "")

    def test_fields(self):
        for field in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "ip",
                      "key"):
            bad = dict(GOOD)
            del bad[field]
            self.check(json.dumps(bad), "field '%s': missing" % field)
        self.check(json.dumps(dict(GOOD, hb_port=0)), "field 'hb_port': must be an integer 1..65535")
        self.check(json.dumps(dict(GOOD, iopub_port="5")),
                   "field 'iopub_port': must be an integer 1..65535")
        self.check(json.dumps(dict(GOOD, transport="udp")),
                   "field 'transport': must be \"tcp\" or \"ipc\"")
        self.check(json.dumps(dict(GOOD, signature_scheme="hmac-md5")),
                   "field 'signature_scheme': unsupported \"hmac-md5\" (use hmac-sha256)")
        self.check(json.dumps(dict(GOOD, key=1)), "field 'key': must be a string")
        self.check("[1, 2]", "not a JSON object")

    def test_truncated_is_one_line(self):
        r, path = self.kernel_with(json.dumps(GOOD)[:30])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.count("\n"), 1)
        self.assertTrue(r.stderr.startswith("iopsd: connection file %s: invalid JSON" % path))

    def test_missing_file_and_usage(self):
        r = iopsd("kernel", "-f", os.path.join(self.dir, "nope.json"))
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "iopsd: connection file %s: No such file or directory\n"
                         % os.path.join(self.dir, "nope.json"))
        r = iopsd("kernel")
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing -f CONNECTION_FILE", r.stderr)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


class InstallTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iopsd-install-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def expected_spec(self, display="Bash (iops)"):
        with open(os.path.join(SOURCE, "kernel-spec", "kernel.json.in")) as f:
            text = f.read()
        text = text.replace("@IOPSD@", os.path.realpath(IOPSD)).replace("@DISPLAY_NAME@", display)
        return json.loads(text)

    def check_spec(self, kdir, display="Bash (iops)"):
        with open(os.path.join(kdir, "kernel.json")) as f:
            self.assertEqual(json.load(f), self.expected_spec(display))
        self.assertEqual(png_size(os.path.join(kdir, "logo-32x32.png")), (32, 32))
        self.assertEqual(png_size(os.path.join(kdir, "logo-64x64.png")), (64, 64))
        for name in ("logo-32x32.png", "logo-64x64.png"):
            with open(os.path.join(kdir, name), "rb") as a, \
                    open(os.path.join(SOURCE, "kernel-spec", name), "rb") as b:
                self.assertEqual(a.read(), b.read())

    def test_prefix(self):
        r = iopsd("install", "--prefix", self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        kdir = os.path.join(self.dir, "share", "jupyter", "kernels", "iops-bash")
        self.assertEqual(r.stdout, "Installed kernelspec iops-bash in %s\n" % kdir)
        self.check_spec(kdir)

    def test_user_name_display_name(self):
        env = dict(os.environ, HOME=self.dir)
        env.pop("JUPYTER_DATA_DIR", None)
        env.pop("XDG_DATA_HOME", None)
        r = iopsd("install", "--user", "--name", "my-bash", "--display-name", "My Bash", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_spec(os.path.join(self.dir, ".local/share/jupyter/kernels/my-bash"), "My Bash")
        # jupyter_client finds it there
        code = ("import json; from jupyter_client.kernelspec import KernelSpecManager as M; "
                "print(json.dumps(M().get_all_specs()))")
        out = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True,
                             text=True, timeout=60)
        specs = json.loads(out.stdout)
        self.assertEqual(specs["my-bash"]["spec"]["display_name"], "My Bash")
        self.assertEqual(specs["my-bash"]["resource_dir"],
                         os.path.join(self.dir, ".local/share/jupyter/kernels/my-bash"))

    def test_sys_prefix_follows_jupyters_python(self):
        # A fake `jupyter` on PATH whose #! interpreter reports sys.prefix = self.dir/env.
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        python = os.path.join(bindir, "python-fake")
        with open(python, "w") as f:
            f.write("#!/bin/sh\necho %s/env\n" % self.dir)
        with open(os.path.join(bindir, "jupyter"), "w") as f:
            f.write("#!%s\n" % python)
        os.chmod(python, 0o755)
        os.chmod(os.path.join(bindir, "jupyter"), 0o755)
        env = dict(os.environ, PATH=bindir + ":/usr/bin:/bin")
        r = iopsd("install", "--sys-prefix", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_spec(os.path.join(self.dir, "env/share/jupyter/kernels/iops-bash"))

    def test_bad_arguments(self):
        r = iopsd("install", "--name", "no/slash", "--prefix", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.splitlines()[0],
                         "iopsd: install: invalid kernel name 'no/slash' (letters, digits, '-', "
                         "'.', '_')")
        r = iopsd("install", "--user", "--prefix", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(os.listdir(self.dir), [])


class JupyterToolsTests(unittest.TestCase):
    def test_console_scripted(self):
        script = "echo hello from console\ncd /tmp && pwd\nX=42\necho \"x=$X\"\nfalse\necho after\n"
        r = subprocess.run(["jupyter", "console", "--kernel", "iops-bash", "--simple-prompt",
                            "--no-confirm-exit"], input=script, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l.split(": ", 1)[1] if l.startswith("In [") else l
                 for l in r.stdout.splitlines()]
        for expected in ("hello from console", "/tmp", "x=42", "after"):
            self.assertIn(expected, lines)
        self.assertIn("exit status 1", r.stdout + r.stderr)

    def test_nbconvert_demo_notebook(self):
        out = tempfile.mkdtemp(prefix="iopsd-nbconvert-")
        try:
            r = subprocess.run(["jupyter", "nbconvert", "--to", "notebook", "--execute",
                                os.path.join(SOURCE, "notebooks", "bash-demo.ipynb"),
                                "--output-dir", out], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            nb = nbformat.read(os.path.join(out, "bash-demo.ipynb"), 4)
        finally:
            shutil.rmtree(out)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        got = [[(o.name, o.text) for o in c.outputs if o.output_type == "stream"] for c in cells]
        self.assertEqual([c.execution_count for c in cells], list(range(1, 14)))
        self.assertEqual(got[1], [("stdout", "10485760 bytes\n")])
        self.assertEqual(got[2], [("stdout", "e5b844cc57f57094\n")])  # sha256 of 10 MiB zeros
        self.assertEqual(got[3], [("stdout", "1000\nsum: 500500\n")])
        self.assertEqual(got[4], [("stdout", "data.bin\nnumbers.txt\n"), ("stderr", "files: 2\n")])
        self.assertEqual(got[12], [("stdout", "cleaned up\n")])
        # every %%iops / %iops cell shows one report: PNG and JSON among its types
        reports = {}
        for i, c in enumerate(cells):
            if "%iops" not in c.source:
                continue
            ds = [o for o in c.outputs if o.output_type == "display_data"]
            self.assertEqual(len(ds), 1, c.source)
            self.assertIn("image/png", ds[0].data, c.source)
            reports[i] = ds[0].data["application/json"]
        self.assertEqual(sorted(reports), [5, 6, 7, 8, 9, 11])
        io = {i: r["io"] for i, r in reports.items()}
        self.assertEqual((io[5]["write_ops"], io[5]["write_bytes"]), (500, 3892))  # 500 files
        self.assertEqual(reports[5]["meta_ops"]["open"] >= 500, True)
        self.assertEqual((io[6]["write_ops"], io[6]["write_bytes"]), (1, 3892))  # one file
        self.assertEqual((io[7]["write_ops"], io[7]["write_bytes"]), (8192, 4194304))
        self.assertEqual((io[8]["write_ops"], io[8]["write_bytes"]), (4, 4194304))
        leaked = reports[9]["fds"]["leaked"]
        self.assertEqual([(l["fd"], os.path.basename(l["path"])) for l in leaked],
                         [(7, "held-open.log")])
        self.assertEqual(got[11], [("stdout", "before\n4194304 big-blocks.bin\n"),
                                   ("stdout", "after\n")])
        self.assertEqual(reports[11]["io"]["write_ops"], 0)

if __name__ == "__main__":
    unittest.main()
