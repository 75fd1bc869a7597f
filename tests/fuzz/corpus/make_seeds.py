#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_frames and fuzz_connfile (run by hand)."""
import hashlib, hmac, json, os, struct

here = os.path.dirname(os.path.abspath(__file__))

def frames(flag, parts):
    return bytes([flag]) + b"".join(struct.pack(">H", len(p)) + p for p in parts)

def msg(key, idents=(), buffers=(), content=None, sig=None):
    h = json.dumps({"msg_id": "a1", "msg_type": "execute_request", "session": "s",
                    "username": "u", "date": "2024-10-07T09:12:46.144859Z",
                    "version": "5.3"}).encode()
    parts = [h, b"{}", b"{}", json.dumps(content or {"code": "echo hi"}).encode()]
    if sig is None:
        sig = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode() if key else b""
    return list(idents) + [b"<IDS|MSG>", sig] + parts + list(buffers)

seeds = {
    "unsigned": frames(0, msg(b"")),
    "signed": frames(1, msg(b"fuzz-key")),
    "idents_buffers": frames(1, msg(b"fuzz-key", idents=[b"client", b"\x00relay"],
                                    buffers=[b"\x00\x01\xff", b""])),
    "bad_sig": frames(1, msg(b"fuzz-key", sig=b"0" * 64)),
    "short_sig": frames(1, msg(b"fuzz-key", sig=b"abc")),
    "few_frames": frames(0, [b"<IDS|MSG>", b"", b"{}"]),
    "no_delim": frames(0, [b"a", b"b", b"{}", b"{}", b"{}", b"{}"]),
    "bad_json": frames(0, [b"<IDS|MSG>", b"", b"{\"msg_id\":", b"{}", b"{}", b"{}"]),
    "utf8": frames(0, msg(b"", content={"code": "echo h\u00e9 \U0001F600"})),
}
os.makedirs(os.path.join(here, "frames"), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, "frames", name), "wb") as f:
        f.write(data)

conn = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
        "hb_port": 50005, "ip": "127.0.0.1", "key": "7f3c-9a", "transport": "tcp",
        "signature_scheme": "hmac-sha256", "kernel_name": "iops-bash"}
ipc = dict(conn, transport="ipc", ip="/tmp/kernel-ipc", shell_port=1, iopub_port=2,
           stdin_port=3, control_port=4, hb_port=5, key="")
cseeds = {
    "tcp.json": json.dumps(conn),
    "ipc.json": json.dumps(ipc),
    "missing_hb.json": json.dumps({k: v for k, v in conn.items() if k != "hb_port"}),
    "bad_port.json": json.dumps(dict(conn, shell_port=70000)),
    "bad_scheme.json": json.dumps(dict(conn, signature_scheme="hmac-md5")),
    "truncated.json": json.dumps(conn)[:40],
    "localhost.json": json.dumps(dict(conn, ip="localhost")),
    "ipv6.json": json.dumps(dict(conn, ip="::1")),
    "inproc.json": json.dumps(dict(conn, transport="inproc")),
}
os.makedirs(os.path.join(here, "connfile"), exist_ok=True)
for name, text in cseeds.items():
    with open(os.path.join(here, "connfile", name), "w") as f:
        f.write(text)

# jraw (the relay's view of frames): the frames seeds, plus numbers jansson
# would change (1.1, 2**64) and a binary buffer, signed, with a parent header.
def raw_msg(key, content_bytes, idents=(), buffers=()):
    h = json.dumps({"msg_id": "r1", "msg_type": "comm_msg", "session": "s", "username": "u",
                    "date": "2024-10-07T09:12:46.144859Z", "version": "5.3"}).encode()
    p = b'{"msg_id": "p0", "msg_type": "execute_request"}'
    parts = [h, p, b"{}", content_bytes]
    sig = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode() if key else b""
    return list(idents) + [b"<IDS|MSG>", sig] + parts + list(buffers)

jseeds = dict(seeds)
jseeds["numbers"] = frames(1, raw_msg(b"fuzz-key", b'{"x": 1.1, "big": 18446744073709551616}',
                                      idents=[b"client"], buffers=[b"\x00\xff" * 8]))
jseeds["numbers_unsigned"] = frames(0, raw_msg(b"", b'{"big": -1e400, "n": [1.10, 2.50]}'))
# a stream whose text has escapes and a surrogate pair, and a nested "text"
# that is not the content's (jraw_string_bytes against jansson)
jseeds["stream_text"] = frames(0, raw_msg(b"", json.dumps(
    {"name": "stdout", "meta": {"text": [1, "x"]}, "text": "a\"b\\ \u00e9 \U0001F600 \n"}).encode()))
os.makedirs(os.path.join(here, "jraw"), exist_ok=True)
for name, data in jseeds.items():
    with open(os.path.join(here, "jraw", name), "wb") as f:
        f.write(data)

kspec = {"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Python 3 (ipykernel)", "language": "python",
         "metadata": {"debugger": True}}
kseeds = {
    "python3.json": json.dumps(kspec),
    "message.json": json.dumps(dict(kspec, interrupt_mode="message",
                                    env={"A": "${HOME}/x", "B": "$$1 $NOPE ${"})),
    "bad_mode.json": json.dumps(dict(kspec, interrupt_mode="never")),
    "empty_argv.json": json.dumps(dict(kspec, argv=[])),
    "bad_env.json": json.dumps(dict(kspec, env={"A": 1})),
    "truncated.json": json.dumps(kspec)[:50],
}
os.makedirs(os.path.join(here, "kernelspec"), exist_ok=True)
for name, text in kseeds.items():
    with open(os.path.join(here, "kernelspec", name), "w") as f:
        f.write(text)

# fuzz_zmtp_oversize: option byte (bit 0 signing on with key "k", then the
# chunk size), a ZMTP 3 stream: greeting, READY, messages (caps in the target:
# 300 bytes a frame, 700 a message, 6 frames).
def zframe(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body

def zstream(*msgs):
    greeting = b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0") + bytes(32)
    ready = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
    out = greeting + zframe(ready, command=True)
    for m in msgs:
        out += b"".join(zframe(p, more=i < len(m) - 1) for i, p in enumerate(m))
    return out

def zmsg(key, content, buffers=(), sig=None, idents=()):
    parts = [b'{"msg_id": "a"}', b"{}", b"{}", content]
    if sig is None:
        sig = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode() if key else b""
    return list(idents) + [b"<IDS|MSG>", sig] + parts + list(buffers)

oversize = {
    "small": bytes([1]) + zstream(zmsg(b"k", b'{"code": "x"}')),
    "answered": bytes([3]) + zstream(zmsg(b"k", b"x" * 400), zmsg(b"k", b"{}")),
    "answered_nokey": bytes([0]) + zstream(zmsg(b"", b"x" * 400, idents=[b"id"])),
    "buffers": bytes([9]) + zstream(zmsg(b"k", b"{}", buffers=[b"b" * 250, b"b" * 250, b"b" * 250])),
    "bad_sig": bytes([1]) + zstream(zmsg(b"k", b"x" * 400, sig=b"0" * 64)),
    "no_delim": bytes([1]) + zstream([b"a", b"x" * 400]),
}
os.makedirs(os.path.join(here, "zmtp_oversize"), exist_ok=True)
for name, data in oversize.items():
    with open(os.path.join(here, "zmtp_oversize", name), "wb") as f:
        f.write(data)
