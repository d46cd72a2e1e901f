"""A WebSocket client through alter with Python's websockets library.

websockets (Debian's 10.x) does not speak to HTTP proxies itself, so this
opens the CONNECT tunnel by hand and hands the socket over; TLS inside it is
verified against alter's CA, as any client of the proxy does. It sends one
message with the grant on the handshake and prints the echo.
"""
import asyncio
import os
import socket
import ssl
import sys
from urllib.parse import urlsplit

import websockets

HOST = "api.example.test"


def tunnel():
    proxy = urlsplit(os.environ["HTTPS_PROXY"])
    s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
    s.sendall(f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: what follows is TLS
        b = s.recv(1)
        if not b:
            sys.exit("the proxy closed the tunnel")
        head += b
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit("CONNECT refused: " + head.decode(errors="replace").splitlines()[0])
    s.settimeout(None)
    return s


async def main():
    ctx = ssl.create_default_context(cafile=os.environ["ALTER_CA_FILE"])
    headers = {"X-Alter-Grant": os.environ["ALTER_GRANT"]}
    major = int(websockets.__version__.split(".")[0])
    kw = {"additional_headers" if major >= 14 else "extra_headers": headers}
    async with websockets.connect(f"wss://{HOST}/ws", sock=tunnel(), ssl=ctx,
                                  server_hostname=HOST, **kw) as ws:
        await ws.send("hello from python")
        print(await ws.recv())


asyncio.run(main())
