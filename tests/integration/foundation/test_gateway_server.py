"""The gateway as `x402fac gateway` serves it (x402fac.gateway.server), not the test fixture's uvicorn."""

import asyncio

import httpx

from tests.fixtures.stack import free_port
from x402fac.gateway.config import GatewayConfig
from x402fac.gateway.server import KEEP_ALIVE_SECONDS, serve

UVICORN_DEFAULT_KEEP_ALIVE = 5


async def _get_health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
    await writer.drain()
    # A closed connection fails at once (IncompleteReadError); the wait only bounds a slow answer
    # (/health asks the workers over NATS), generous for a loaded machine.
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


async def test_an_idle_keep_alive_connection_is_kept_longer_than_client_pools_keep_it(stack):
    """A resource server's pooled connection, idle past uvicorn's default 5 s, still carries the next
    request (a server closing first races the client's next request: a lost settle answer)."""
    assert KEEP_ALIVE_SECONDS > 60  # above load balancers' idle timeout
    port = free_port()
    stop = asyncio.Event()
    config = GatewayConfig(host="127.0.0.1", port=port)
    served = asyncio.create_task(serve(config, stack.nats_url, stop, stack.nats.credentials("gateway")))
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _get_health(reader, writer) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(UVICORN_DEFAULT_KEEP_ALIVE + 1.5)
        assert await _get_health(reader, writer) == b"HTTP/1.1 200 OK"  # the same connection
        writer.close()
    finally:
        stop.set()
        await served
