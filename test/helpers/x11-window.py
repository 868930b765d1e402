# An X client with nothing but python3 (run inside a machine, as `python3 -`): it connects to
# $DISPLAY with the cookie xauth holds, maps a window named gaol-x11 for a few seconds, and
# prints what the server said. No toolkit, so the image needs no X libraries for the test.
import os
import socket
import struct
import subprocess
import sys
import time

display = os.environ.get("DISPLAY", "")
if not display:
    sys.exit("no DISPLAY: sshd did not forward X")
host, number = display.rsplit(":", 1)
number = int(number.split(".")[0])
conn = socket.create_connection((host or "localhost", 6000 + number))
entry = subprocess.run(["xauth", "list", display], capture_output=True, text=True).stdout.split()
name, cookie = b"MIT-MAGIC-COOKIE-1", bytes.fromhex(entry[2]) if len(entry) >= 3 else b""


def pad(b):
    return b + b"\0" * (-len(b) % 4)


def read(n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            sys.exit("the X server closed the connection")
        data += chunk
    return data


conn.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, len(name), len(cookie)) + pad(name) + pad(cookie))
status, _, major, minor, words = struct.unpack("<BBHHH", read(8))
body = read(words * 4)
if status != 1:
    sys.exit("X refused: " + body[: body[0] if status == 0 else 0].decode(errors="replace"))
resource_base = struct.unpack_from("<I", body, 4)[0]
vendor_len, _, screens, formats = struct.unpack_from("<HHBB", body, 16)
root_at = 32 + len(pad(body[32 : 32 + vendor_len])) + 8 * formats
root = struct.unpack_from("<I", body, root_at)[0]
window = resource_base | 1
title = b"gaol-x11"
# CreateWindow (1) 200x100 at 10,10 InputOutput, CopyFromParent visual; WM_NAME (atom 39) STRING (31); MapWindow (8).
create = struct.pack("<BBHIIhhHHHHII", 1, 0, 8, window, root, 10, 10, 200, 100, 0, 1, 0, 0)
name_prop = struct.pack("<BBHIIIBxxxI", 18, 0, 6 + len(pad(title)) // 4, window, 39, 31, 8, len(title)) + pad(title)
conn.sendall(create + name_prop + struct.pack("<BxHI", 8, 2, window))
# GetInputFocus (43) answers once everything before it was done: the window is mapped then.
conn.sendall(struct.pack("<BxH", 43, 1))
reply = read(32)
if reply[0] != 1:
    sys.exit("X error %d for request %d" % (reply[1], reply[10]))
print("X11 %d.%d from %s: window 0x%x mapped" % (major, minor, body[32 : 32 + vendor_len].decode(), window), flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 8)
