#!/usr/bin/python3
"""A syslog collector for the tests: receives RFC 5424 messages over UDP (one
a datagram), TCP or TLS (octet-counting frames, RFC 6587 3.4.1 / RFC 5425)
on 127.0.0.1 and appends each as a JSON string line to OUT; a frame that
breaks the framing is written as {"bad_frame": ...}.

usage: syslog_collector.py udp|tcp|tls PORT READY OUT [CERT KEY [CLIENT-CA]]
PORT 0 picks a free port; READY receives "PORT PID" once listening. With
CLIENT-CA, TLS clients must present a certificate it signed."""
import json
import os
import socket
import ssl
import sys
import threading

proto, port, ready, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
sink = open(out, "a", encoding="utf-8")


def write(obj):
    with lock:
        sink.write(json.dumps(obj) + "\n")
        sink.flush()


def frames(conn):
    buf = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while buf:
            space = buf.find(b" ")
            if space < 0:
                break
            if not buf[:space].isdigit() or space > 9:
                write({"bad_frame": buf[:80].decode("latin-1")})
                return
            size = int(buf[:space])
            if len(buf) < space + 1 + size:
                break
            write(buf[space + 1:space + 1 + size].decode("utf-8"))
            buf = buf[space + 1 + size:]


def serve(conn):
    try:
        frames(conn)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
context = None
if proto == "tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[5], sys.argv[6])
    if len(sys.argv) > 7:
        # Clients must present a certificate this CA signed.
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[7])
if proto != "udp":
    s.listen(8)
with open(ready + ".tmp", "w") as f:
    f.write(f"{s.getsockname()[1]} {os.getpid()}\n")
os.rename(ready + ".tmp", ready)
while True:
    if proto == "udp":
        data, _ = s.recvfrom(65536)
        write(data.decode("utf-8"))
        continue
    conn, _ = s.accept()
    if context is not None:
        try:
            conn = context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
