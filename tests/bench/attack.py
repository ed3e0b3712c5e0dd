#!/usr/bin/env python3
"""Attacks for tests/bench/abuse.sh, from another loopback address than the legitimate clients
(127.0.0.2 by default: an attacking pod and the API server differ). Loopback only, bounded by
SECONDS and by the connection count; prints one summary line.

  attack.py idle  PORT COUNT SECONDS            COUNT TCP sockets that never send a byte (no TLS
                                                handshake); one closed by the server is reopened
  attack.py slow  PORT COUNT SECONDS            COUNT TLS connections sending the head of a POST to
                                                /openstack or /v1/decide, then its body a byte a
                                                second; reopened when answered or closed
  attack.py large PORT COUNT SECONDS BODY_FILE  COUNT TLS keep-alive connections posting BODY_FILE
                                                to /v1/decide as fast as they can
  attack.py trickle PORT COUNT SECONDS [ADDRS]  COUNT TLS connections spread over ADDRS addresses
                                                (8: 127.0.0.2-127.0.0.9, each within its share of
                                                64) sending the head of a POST to /validate, then
                                                its body a byte a second (no per-peer body rate
                                                applies there); reopened when answered or closed
"""
import asyncio
import selectors
import socket
import ssl
import sys
import threading
import time

FROM = "127.0.0.2"
HOST = "127.0.0.1"


def tcp(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((FROM, 0))
    sock.settimeout(10)
    sock.connect((HOST, port))
    return sock


def tls(port):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(tcp(port), server_hostname="localhost")


def read_answer(sock):
    """The status of one HTTP/1.1 answer read whole (by its Content-Length), or None if closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ")[1])


def idle(port, count, seconds):
    end = time.monotonic() + seconds
    selector = selectors.DefaultSelector()
    opened = reopened = failed = 0

    def open_one():
        nonlocal opened, failed
        try:
            sock = tcp(port)
        except OSError:
            failed += 1
            time.sleep(0.001)
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        opened += 1

    for _ in range(count):
        open_one()
    while time.monotonic() < end:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
                sock.close()
                reopened += 1
                if time.monotonic() < end:
                    open_one()
        while len(selector.get_map()) < count and time.monotonic() < end:
            open_one()
    held = len(selector.get_map())
    print(f"idle: {count} sockets from {FROM} for {seconds} s: opened {opened}, closed by the "
          f"server and reopened {reopened}, connect failures {failed}, open at the end {held}")


def slow(port, count, seconds):
    end = time.monotonic() + seconds
    counts = {}
    lock = threading.Lock()

    def note(what):
        with lock:
            counts[what] = counts.get(what, 0) + 1

    def one(i):
        path = "/openstack" if i % 2 == 0 else "/v1/decide"
        while time.monotonic() < end:
            try:
                sock = tls(port)
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: 100000\r\n\r\n{".encode())
                sock.settimeout(1)
                answered = None
                while time.monotonic() < end and answered is None:
                    try:
                        answered = read_answer(sock)
                        if answered is None:
                            answered = "closed"
                    except socket.timeout:
                        sock.sendall(b" ")
                note(answered if answered is not None else "still trickling at the end")
                sock.close()
            except OSError as e:
                note(type(e).__name__)
                time.sleep(0.01)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"slow: {count} trickled bodies from {FROM} for {seconds} s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))


def trickle(port, count, seconds, addrs):
    """Trickled /validate bodies from `addrs` addresses, in one thread (asyncio): the attacker
    takes one thread's share of the machine, not one per connection."""
    counts = {}

    def note(what):
        counts[what] = counts.get(what, 0) + 1

    async def one(i, end):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        source = f"127.0.0.{2 + i % addrs}"
        while time.monotonic() < end:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    HOST, port, ssl=context, server_hostname="localhost",
                    local_addr=(source, 0)), timeout=10)
                writer.write(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\n\r\n{")
                answered = None
                while time.monotonic() < end and answered is None:
                    try:
                        line = await asyncio.wait_for(reader.readline(), timeout=1)
                        answered = int(line.split(b" ")[1]) if line else "closed"
                    except asyncio.TimeoutError:
                        writer.write(b" ")
                        await writer.drain()
                note(answered if answered is not None else "still trickling at the end")
            except (OSError, asyncio.TimeoutError, ssl.SSLError, IndexError, ValueError) as e:
                note(type(e).__name__)
                await asyncio.sleep(0.01)
            finally:
                if writer is not None:
                    writer.close()

    async def main():
        end = time.monotonic() + seconds
        await asyncio.gather(*(one(i, end) for i in range(count)))

    asyncio.run(main())
    print(f"trickle: {count} trickled /validate bodies from {addrs} addresses (127.0.0.2-"
          f"127.0.0.{1 + addrs}), one thread, for {seconds} s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))


def large(port, count, seconds, body_file):
    body = open(body_file, "rb").read()
    head = (f"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    end = time.monotonic() + seconds
    counts = {}
    lock = threading.Lock()

    def note(what):
        with lock:
            counts[what] = counts.get(what, 0) + 1

    def one():
        sock = None
        while time.monotonic() < end:
            try:
                if sock is None:
                    sock = tls(port)
                sock.sendall(head + body)
                status = read_answer(sock)
                note(status if status is not None else "closed")
                if status is None or status >= 400:
                    sock.close()
                    sock = None
            except OSError as e:
                note(type(e).__name__)
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.01)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts.values())
    print(f"large: {count} connections from {FROM} posting {len(body)} bytes for {seconds} s: "
          f"{total} answers ({total / seconds:.0f}/s): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))


if __name__ == "__main__":
    mode, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    assert count <= 1024 and seconds <= 600, "bounded: at most 1024 connections for 10 minutes"
    if mode == "idle":
        idle(port, count, seconds)
    elif mode == "slow":
        slow(port, count, seconds)
    elif mode == "large":
        large(port, count, seconds, sys.argv[5])
    elif mode == "trickle":
        addrs = int(sys.argv[5]) if len(sys.argv) > 5 else 8
        assert 1 <= addrs <= 250, "addresses 127.0.0.2 onwards, at most 250"
        trickle(port, count, seconds, addrs)
    else:
        sys.exit(f"unknown attack `{mode}`: idle, slow, large or trickle")
