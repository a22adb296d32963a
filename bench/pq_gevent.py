#!/usr/bin/python3
"""psycopg2 under gevent: CLIENTS greenlets sharing CONNS connections (a gevent queue as the
pool), the wait callback that makes psycopg2 cooperative (what psycogreen installs), for
SECONDS; the same workload as bench/bench-pq.c in green mode.
Usage: pq_gevent.py CONNINFO CLIENTS CONNS SECONDS select1|param. Prints queries/s last."""
import resource
import sys
import time

import gevent
import gevent.queue
import psycopg2
import psycopg2.extensions
from gevent.socket import wait_read, wait_write


def gevent_wait(conn, timeout=None):
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            break
        elif state == psycopg2.extensions.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:
            raise psycopg2.OperationalError("bad poll state %r" % state)


def main():
    conninfo, clients, conns, secs, query = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    psycopg2.extensions.set_wait_callback(gevent_wait)
    pool = gevent.queue.Queue()
    for _ in range(conns):
        c = psycopg2.connect(conninfo)
        c.autocommit = True
        pool.put(c)
    state = {"stop": False, "q": 0}

    def worker(i):
        while not state["stop"]:
            c = pool.get()
            try:
                cur = c.cursor()
                if query == "param":
                    cur.execute("SELECT %s::int + 1", (i,))
                else:
                    cur.execute("SELECT 1")
                cur.fetchall()
                cur.close()
            finally:
                pool.put(c)
            i += 1
            state["q"] += 1

    ws = [gevent.spawn(worker, k * 1000000) for k in range(clients)]
    gevent.sleep(0.3)
    q0 = state["q"]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    gevent.sleep(secs)
    q = state["q"] - q0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    el = time.monotonic() - t0
    state["stop"] = True
    gevent.joinall(ws, timeout=10)
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e6
    print("pq gevent clients=%d conns=%d query=%s q_per_s=%.0f client_cpu_us_per_q=%.2f" % (clients, conns, query, q / el, cpu / q), file=sys.stderr)
    print("%.0f" % (q / el))


if __name__ == "__main__":
    main()
