#!/usr/bin/python3
"""pyzmq with gevent (zmq.green): CLIENTS REQ greenlets against one ROUTER echo greenlet over
tcp://127.0.0.1, for SECONDS; the same program as bench/bench-zmq.c in green mode.
Usage: zmq_gevent.py CLIENTS SECONDS. Prints round trips/s last."""
import resource
import socket
import sys
import time

import gevent
import zmq.green as zmq


def main():
    clients, secs = int(sys.argv[1]), float(sys.argv[2])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ep = "tcp://127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(ep)
    state = {"stop": False, "rts": 0}

    def server():
        while True:
            router.send_multipart(router.recv_multipart())

    def client():
        c = ctx.socket(zmq.REQ)
        c.connect(ep)
        while not state["stop"]:
            c.send(b"0123456789abcdef")
            c.recv()
            state["rts"] += 1
        c.close(linger=0)

    srv = gevent.spawn(server)
    cs = [gevent.spawn(client) for _ in range(clients)]
    gevent.sleep(0.3)
    r0 = state["rts"]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    gevent.sleep(secs)
    rts = state["rts"] - r0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    el = time.monotonic() - t0
    state["stop"] = True
    gevent.joinall(cs, timeout=5)
    srv.kill()
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e6
    print("zmq gevent clients=%d rt_per_s=%.0f cpu_us_per_rt=%.2f" % (clients, rts / el, cpu / rts), file=sys.stderr)
    print("%.0f" % (rts / el))


if __name__ == "__main__":
    main()
