#!/usr/bin/python3
"""fake_fs_usage: a stand-in for macOS `fs_usage -w -f filesys PID...` on
Linux, so the live runner (measure/fsusage_darwin.c) can be tested without a
Mac. It attaches strace to the pids and prints each call as an fs_usage wide
line (completion time, call, F=/B=/O=/[errno]/(mode), path, elapsed, W-less,
name.tid). Only the calls the runner's tests need are translated.

SIGINT stops it the way fs_usage stops: strace detaches, what was traced is
printed, exit 0. FAKE_FSU_FAIL=1 makes it fail at once like a busy ktrace.
"""
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta

LINE = re.compile(r"^(\d+)\s+(\d\d:\d\d:\d\d\.\d{6}) (\w+)\((.*)\)\s+= (-?\d+|0x[0-9a-f]+)"
                  r"(?: (E\w+) \([^)]*\))?.*<(\d+\.\d+)>$")
ERRNO = {"ENOENT": 2, "EBADF": 9, "EACCES": 13, "EEXIST": 17, "EISDIR": 21, "ENOSPC": 28}


def comm(pid):
    try:
        with open("/proc/%s/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "gone"


def path_arg(args):
    m = re.search(r'"((?:[^"\\]|\\.)*)"', args)
    return m.group(1) if m else ""


def mode(args):
    w = "O_WRONLY" in args or "O_RDWR" in args
    r = "O_WRONLY" not in args
    return "(%s%s%s_%s_)" % ("R" if r else "_", "W" if w else "_", "C" if "O_CREAT" in args
                             else "_", "T" if "O_TRUNC" in args else "_")


def emit(pid, ts, call, args, ret, err, elapsed, names):
    fd = args.split(",")[0].strip()
    e = "[%3d]" % ERRNO.get(err, 5) if err else ""
    if call in ("openat", "open"):
        fields = ("F=%-3s      %s" % (ret, mode(args))) if not err else "       %s %s" % (e, mode(args))
        name, rest = "open", "%s  %s" % (fields, path_arg(args))
    elif call in ("read", "write"):
        name, rest = call, ("F=%-3s  %s" % (fd, e)) if err else "F=%-3s  B=0x%-6x" % (fd, int(ret))
    elif call in ("pread64", "pwrite64"):
        off = int(args.rsplit(",", 1)[1])
        name = call[:-2]
        rest = ("F=%-3s  %s" % (fd, e)) if err else "F=%-3s  B=0x%-8x O=0x%08x" % (fd, int(ret), off)
    elif call == "close":
        name, rest = "close", "F=%-3s%s" % (fd, "  " + e if err else "")
    elif call in ("stat", "newfstatat", "lstat"):
        if 'AT_EMPTY_PATH' in args:
            name, rest = "fstat64", "F=%-3s" % fd
        else:
            name, rest = "stat64", "       %-12s %s" % (e, path_arg(args))
    elif call == "fstat":
        name, rest = "fstat64", "F=%-3s" % fd
    elif call == "lseek":
        name, rest = "lseek", "F=%-3s  O=0x%08x" % (fd, max(int(ret), 0))
    elif call == "fsync":
        name, rest = "fsync", "F=%-3s" % fd
    elif call == "unlink":
        name, rest = "unlink", "       %-12s %s" % (e, path_arg(args))
    else:
        return
    t = datetime.strptime(ts, "%H:%M:%S.%f") + timedelta(seconds=float(elapsed))
    now = comm(pid)  # the name changes at exec; keep the last one known
    if now != "gone" or pid not in names:
        names[pid] = now
    sys.stdout.write("%s  %-17s %s  %s   %s.%s\n" % (t.strftime("%H:%M:%S.%f"), name, rest,
                                                   "%.6f" % float(elapsed), names[pid], pid))
    sys.stdout.flush()


def main():
    args = sys.argv[1:]
    if args[:3] != ["-w", "-f", "filesys"] or len(args) < 4:
        sys.stderr.write("fake_fs_usage: expected -w -f filesys PID...\n")
        return 1
    if os.environ.get("FAKE_FSU_FAIL"):
        sys.stderr.write("ktrace_start: Resource busy\n")
        return 1
    cmd = ["strace", "-f", "-tt", "-T", "-qq", "-o", "/dev/stderr",
           "-e", "trace=openat,open,read,write,pread64,pwrite64,close,stat,newfstatat,lstat,"
           "fstat,lseek,fsync,unlink"]
    for p in args[3:]:
        cmd += ["-p", p]
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace")
    signal.signal(signal.SIGINT, lambda *_: st.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: st.send_signal(signal.SIGINT))
    pending, names = {}, {}
    for raw in st.stderr:
        raw = raw.rstrip("\n")
        m = re.match(r"^(\d+)\s+(\S+) (.*) <unfinished \.\.\.>$", raw)
        if m:
            pending[m.group(1)] = (m.group(2), m.group(3))
            continue
        m = re.match(r"^(\d+)\s+\S+ <\.\.\. \w+ resumed>(.*)$", raw)
        if m and m.group(1) in pending:
            ts, head = pending.pop(m.group(1))
            raw = "%s %s %s%s" % (m.group(1), ts, head, m.group(2))
        m = LINE.match(raw)
        if m:
            emit(*m.groups(), names)
    st.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
