#!/usr/bin/env python3
"""RSS of a running mirrorwatch before, during and after a flood of half-sent requests.

Opens --connections connections to --addr from the loopback address --source, each sending
half a request head, holds them until the server closes them (serve.header_read_timeout),
and samples the daemon's VmRSS (/proc/PID/status) before, at the peak and --settle seconds
after the last one closed. Loopback only; bounded in count and time.

    bench/flood.py --pid "$(pidof mirrorwatch)" --addr 127.0.0.1:9184 --connections 3000
"""

import argparse
import ipaddress
import selectors
import socket
import sys
import time

PARTIAL = b"GET /mirrorlist/9/baseos?arch=x86_64 HTTP/1.1\r\nHost: mirrorwatch\r\nUser-Agent: hold"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--addr", required=True)
    p.add_argument("--source", default="127.0.0.2")
    p.add_argument("--connections", type=int, default=3000)
    p.add_argument("--limit", type=float, default=60.0, help="longest wait for the closes, s")
    p.add_argument("--settle", type=float, default=5.0)
    a = p.parse_args()
    host, port = a.addr.rsplit(":", 1)
    for h in (host, a.source):
        if not ipaddress.ip_address(h).is_loopback:
            sys.exit(f"{h}: loopback addresses only")
    before = rss_kib(a.pid)
    sel = selectors.DefaultSelector()
    opened = 0
    start = time.monotonic()
    for _ in range(a.connections):
        s = socket.socket()
        s.bind((a.source, 0))
        try:
            s.connect((host, int(port)))
            s.sendall(PARTIAL)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        opened += 1
    time.sleep(1.0)
    peak = rss_kib(a.pid)
    refused = 0
    open_now = opened
    deadline = time.monotonic() + a.limit
    while open_now and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                refused += 1
            if not data or data.startswith(b"HTTP/1.1 503"):
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_now -= 1
    closed_after = time.monotonic() - start
    time.sleep(a.settle)
    after = rss_kib(a.pid)
    mib = lambda k: f"{k / 1024:.1f} MiB"
    print(
        f"connections {opened} (503: {refused}, still open: {open_now}) closed by {closed_after:.1f} s; "
        f"RSS before {mib(before)}, peak {mib(peak)}, {a.settle:.0f} s after {mib(after)}"
    )


if __name__ == "__main__":
    main()
