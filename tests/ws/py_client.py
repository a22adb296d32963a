"""Python websockets (Debian python3-websockets) as a client of Grove's WebSocket server.

Usage: py_client.py URL MODE, MODE one of: default (websockets' default permessage-deflate
offer), params (an offer with every parameter), plain (no compression).
Prints OK and exits 0 when every check passed; prints the failure and exits 1 otherwise.
Run by tests/test-ws-interop.c, which bounds it in time and kills it by PID."""
import asyncio
import sys
import traceback

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def run(url, mode):
    kw = {"subprotocols": ["superchat", "chat"], "max_size": 4 << 20, "ping_interval": None}
    if mode == "plain":
        kw["compression"] = None
    elif mode == "params":
        kw["compression"] = None
        kw["extensions"] = [ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            server_max_window_bits=10, client_max_window_bits=9)]
    async with websockets.connect(url, **kw) as ws:
        check(ws.subprotocol == "chat", "subprotocol %r" % ws.subprotocol)
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        if mode == "plain":
            check(ext is None, "extensions %r" % ext)
        else:
            check(ext is not None and ext.startswith("permessage-deflate"), "extensions %r" % ext)
            check(len(ws.extensions) == 1, "extensions %r" % ws.extensions)
        if mode == "params":
            check("server_no_context_takeover" in ext and "server_max_window_bits=10" in ext, ext)
        for text in ["Hello from Python", "\u03ba\u1f79\u03c3\u03bc\u03b5 \U0001F389", ""]:
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 5)
            check(got == text, "text echo %r" % got)
        data = bytes(range(256)) * 4
        await ws.send(data)
        check(await asyncio.wait_for(ws.recv(), 5) == data, "binary echo")
        big = b"".join(b"line %d of a large compressible message\n" % i for i in range(20000))
        await ws.send(big)
        check(await asyncio.wait_for(ws.recv(), 10) == big, "large echo")
        rnd = bytes((i * 7919 + (i >> 7) * 31) & 0xFF for i in range(200000))
        await ws.send(rnd)
        check(await asyncio.wait_for(ws.recv(), 10) == rnd, "large random echo")
        await ws.send(["frag", "ment", "ed \u00e9"])
        check(await asyncio.wait_for(ws.recv(), 5) == "fragmented \u00e9", "fragmented echo")
        waiter = await ws.ping(b"py-ping")
        await asyncio.wait_for(waiter, 5)
        for i in range(50):
            await ws.send("pipelined %d" % i)
        for i in range(50):
            got = await asyncio.wait_for(ws.recv(), 5)
            check(got == "pipelined %d" % i, "pipelined %r" % got)
        await ws.close(code=4000, reason="py bye")
        check(ws.close_code == 4000, "close echo %r" % ws.close_code)
    # the server starts the close
    async with websockets.connect(url, **kw) as ws:
        await ws.send("close-me")
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("no close")
        except websockets.ConnectionClosed:
            pass
        check(ws.close_code == 4002 and ws.close_reason == "server bye",
              "server close %r %r" % (ws.close_code, ws.close_reason))


def main():
    try:
        asyncio.run(asyncio.wait_for(run(sys.argv[1], sys.argv[2]), 60))
    except BaseException:
        traceback.print_exc()
        print("FAILED", flush=True)
        sys.exit(1)
    print("OK", flush=True)


main()
