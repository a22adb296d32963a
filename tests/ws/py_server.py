"""Python websockets (Debian python3-websockets) as a server for Grove's WebSocket client.

Usage: py_server.py PORT MODE, MODE one of: default (websockets' default permessage-deflate
settings: 12-bit windows), params (no context takeover both ways, server window 10 bits,
client window 9 bits), plain (no compression). Listens on 127.0.0.1:PORT, prints READY,
and echoes messages, except these commands:
  "ext?"      answers with the negotiated Sec-WebSocket-Extensions ("none" if none)
  "proto?"    answers with the negotiated subprotocol
  "frag-me"   answers with a message in three fragments
  "ping-me"   sends a ping with payload "srv", then answers "pinged" once the pong came
  "close-me"  closes with 4003 "py server bye"
Run by tests/test-ws-interop.c, which kills it by PID."""
import asyncio
import sys

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def handler(ws, path=None):
    async for msg in ws:
        if msg == "ext?":
            await ws.send(ws.response_headers.get("Sec-WebSocket-Extensions") or "none")
        elif msg == "proto?":
            await ws.send(ws.subprotocol or "none")
        elif msg == "frag-me":
            await ws.send(["a" * 1000, "b" * 1000, "c"])
        elif msg == "ping-me":
            waiter = await ws.ping(b"srv")
            await asyncio.wait_for(waiter, 5)
            await ws.send("pinged")
        elif msg == "close-me":
            await ws.close(4003, "py server bye")
        else:
            await ws.send(msg)


async def main(port, mode):
    kw = {"subprotocols": ["chat"], "max_size": 4 << 20, "ping_interval": None}
    if mode == "plain":
        kw["compression"] = None
    elif mode == "params":
        kw["compression"] = None
        kw["extensions"] = [ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            server_max_window_bits=10, client_max_window_bits=9)]
    async with websockets.serve(handler, "127.0.0.1", port, **kw):
        print("READY", flush=True)
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
