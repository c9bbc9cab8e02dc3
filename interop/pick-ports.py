#!/usr/bin/env python3
"""Prints N free loopback ports (space-separated), or nothing if it cannot find them.

    pick-ports.py N

They lie below the kernel's ephemeral range, where no outgoing connection can take them
while a broker is down for a restart, and each is free on 127.0.0.2 too (the Go suite's
broker relay listens there on the broker's port). Used by the interop suites' run.sh.
"""
import random
import socket
import sys

want = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    low = 32768
low = max(low, 12000)
held = []
for port in random.sample(range(10000, low), min(400, low - 10000)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        t = socket.socket()
        t.bind(("127.0.0.2", port))
        t.close()
    except OSError:
        s.close()
        continue
    held.append(s)
    if len(held) == want:
        break
if len(held) == want:
    print(" ".join(str(s.getsockname()[1]) for s in held))
