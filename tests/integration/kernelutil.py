"""Helpers for the kernel's integration tests (jupyter_client 7.4 as on Debian 12)."""
import json
import os
import queue
import tempfile
import time

import jupyter_client
from jupyter_client.manager import KernelManager

KERNEL = "iops-bash"

# A wrapped IPython's history database of its own for each test process (see
# test_wrap_conformance.py): sessions of other tests never show in it.
if "IOPSD_KEEP_IPYTHONDIR" not in os.environ:
    import atexit
    import shutil
    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="iopsd-ipython-")
    atexit.register(shutil.rmtree, os.environ["IPYTHONDIR"], True)
SANITIZED = os.environ.get("IOPSD_SANITIZED", "0") not in ("", "0", "OFF", "FALSE")


def start(stderr_path=None, env=None, kernel=KERNEL):
    """Starts a kernel; returns (km, kc, stderr file or None)."""
    km = KernelManager(kernel_name=kernel)
    log = open(stderr_path, "w") if stderr_path else None
    kw = {}
    if log:
        kw["stderr"] = log
    if env:
        kw["env"] = dict(os.environ, **env)
    km.start_kernel(**kw)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
    except RuntimeError as e:
        # no kernel left behind: one would hold ctest's output pipe open
        # (the test then hangs until ctest's timeout), and say what it said
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        said = ""
        if log:
            log.close()
            with open(stderr_path) as f:
                said = f.read()[-2000:]
        raise AssertionError(f"{e}; the kernel's stderr: {said!r}") from None
    drain_iopub(kc)
    return km, kc, log


def stop(km, kc, log=None):
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=False)
    if log:
        log.close()


def kernel_pid(km):
    return km.provisioner.process.pid


def drain_iopub(kc, quiet=0.2):
    msgs = []
    while True:
        try:
            msgs.append(kc.get_iopub_msg(timeout=quiet))
        except queue.Empty:
            return msgs


def shell_reply(kc, msg_id, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        m = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") == msg_id:
            return m


def iopub_until_idle(kc, msg_id, timeout=15):
    """The iopub messages whose parent is msg_id, up to and including idle."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        out.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return out


def past_abort_window(kc):
    """ipykernel aborts execute requests that reach it before its
    stop-on-error window closes (a timer it queues after an error reply). A
    kernel_info round trip on shell is queued behind that timer, so what is
    sent after its reply is past the window; without this, a loaded machine
    sees 'aborted' from ipykernel itself, relay or not."""
    shell_reply(kc, kc.kernel_info())


def run(kc, code, **kw):
    """Executes code; returns (reply, iopub messages of the request)."""
    msg_id = kc.execute(code, **kw)
    rep = shell_reply(kc, msg_id)
    msgs = iopub_until_idle(kc, msg_id)
    if rep["content"]["status"] == "error":
        past_abort_window(kc)
    return rep, msgs


def stdout_of(msgs, name="stdout"):
    return "".join(m["content"]["text"] for m in msgs
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def displays(msgs):
    """The display messages among msgs (a live progress display, the report)."""
    return [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]


def report_at(types):
    """Index of the report among message types: the last display (a live
    progress display comes first when a cell runs over a second, e.g. on a
    loaded machine)."""
    return max(i for i, t in enumerate(types) if t in ("display_data", "update_display_data"))


def report_of(msgs):
    """The report of a measured cell (the application/json of the last
    display carrying one), or None."""
    shown = [m for m in displays(msgs) if "application/json" in m["content"]["data"]]
    return shown[-1]["content"]["data"]["application/json"] if shown else None


def add_kernelspec(data_dir, name, spec):
    """Writes spec (a dict) as data_dir/kernels/NAME/kernel.json; returns
    that directory."""
    kdir = os.path.join(data_dir, "kernels", name)
    os.makedirs(kdir)
    with open(os.path.join(kdir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    return kdir


def push_jupyter_path(data_dir):
    """Puts data_dir first in JUPYTER_PATH (where jupyter_client looks for
    kernel specs); returns a function that puts the old value back."""
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = data_dir + os.pathsep + old if old else data_dir

    def restore():
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    return restore


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cpus_allowed(pid):
    """The CPUs pid may run on (Cpus_allowed_list of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split()[1]
    raise KeyError("Cpus_allowed_list")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def gone(pid, timeout=3.0):
    """True when pid no longer exists (or is a zombie) within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def tmpfile(suffix=""):
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="iopsd-kernel-test-")
    os.close(fd)
    return path
