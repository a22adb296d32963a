#!/usr/bin/python3
"""The independent end of tests/test-zmq.c: pyzmq (Debian python3-zmq), blocking.

Usage: zmq_peer.py MODE ENDPOINT N
  rep   bind, answer N requests with b"re:" + request
  req   connect, send N requests b"q<i>", expect b"re:q<i>"
  pub   bind, publish b"a<i>" and b"b<i>" every millisecond until killed
  sub   connect, subscribe to b"a", receive N messages, fail on any not starting with a
  push  connect, push N messages b"<i>" in order
  pull  bind, pull N messages, check the order, print their count
Exits 0 when all went as expected; prints a line saying what it did. Bounded: every
receive times out after 10 s.
"""
import sys
import time

import zmq


def main():
    mode, endpoint, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = zmq.Context()
    kinds = {"rep": zmq.REP, "req": zmq.REQ, "pub": zmq.PUB, "sub": zmq.SUB, "push": zmq.PUSH, "pull": zmq.PULL}
    s = ctx.socket(kinds[mode])
    s.setsockopt(zmq.LINGER, 2000)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    if mode in ("rep", "pub", "pull"):
        s.bind(endpoint)
    else:
        s.connect(endpoint)
    if mode == "rep":
        for _ in range(n):
            s.send(b"re:" + s.recv())
    elif mode == "req":
        for i in range(n):
            q = b"q%d" % i
            s.send(q)
            r = s.recv()
            if r != b"re:" + q:
                print("bad reply", r)
                return 1
    elif mode == "pub":
        i = 0
        while True:
            s.send(b"a%d" % i)
            s.send(b"b%d" % i)
            i += 1
            time.sleep(0.001)
    elif mode == "sub":
        s.setsockopt(zmq.SUBSCRIBE, b"a")
        for _ in range(n):
            m = s.recv()
            if not m.startswith(b"a"):
                print("filter let through", m)
                return 1
    elif mode == "push":
        for i in range(n):
            s.send(b"%d" % i)
    elif mode == "pull":
        for i in range(n):
            m = s.recv()
            if m != b"%d" % i:
                print("out of order", m, i)
                return 1
    print(mode, "ok", n, flush=True)
    s.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
