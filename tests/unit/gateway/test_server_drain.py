"""A stopping gateway answers every connection it accepted, even one whose request was not in yet
(uvicorn closes such a connection at once, and its client, the request already sent, loses it)."""

import asyncio
import socket

import uvicorn

from tests.fixtures.stack import free_port
from x402fac.gateway.server import Server, guarded_protocol

REQUEST = b"GET /ok HTTP/1.1\r\nhost: gateway\r\n\r\n"


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _serving(read_timeout: float) -> tuple[Server, asyncio.Task, int]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(read_timeout, 1000),
        lifespan="off",
        log_level="warning",
    )
    server = Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(3000):  # a guard against a hang, not a timing check
        if server.started:
            return server, serving, port
        await asyncio.sleep(0.01)
    raise TimeoutError("the server did not start")


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (blocking, in a thread)."""
    sock.settimeout(30)  # a guard against a hang, not a timing check
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        received += b"<reset>"
    finally:
        sock.close()
    return received


async def test_connections_accepted_before_the_stop_are_answered():
    server, serving, port = await _serving(read_timeout=10.0)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    await asyncio.sleep(0.3)  # the loop accepts them; they send nothing yet
    queued = []
    for _ in range(20):  # connected by the kernel, request sent, accepted by the loop as it stops
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(REQUEST)
        queued.append(sock)
    server.should_exit = True

    await asyncio.sleep(0.3)  # the server is stopping now
    for sock in silent:
        sock.sendall(REQUEST)
    answers = await asyncio.gather(*(asyncio.to_thread(_answer, sock) for sock in silent + queued))
    await asyncio.wait_for(serving, 30)  # and it stops; a guard against a hang, not a timing check

    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert answer.endswith(b"\r\n\r\nok"), answer
        assert b"connection: close\r\n" in answer.lower(), answer
        assert b"\r\ndate: " in answer.lower(), answer  # made for the response: no timer keeps it
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        raise AssertionError("a stopped server still accepts connections")
    except ConnectionRefusedError:
        pass


async def test_a_connection_that_never_sends_does_not_hold_the_stop():
    server, serving, port = await _serving(read_timeout=600.0)  # a read deadline far beyond the wait below
    mute = socket.create_connection(("127.0.0.1", port))
    await asyncio.sleep(0.3)
    server.should_exit = True
    answer = await asyncio.to_thread(_answer, mute)
    await asyncio.wait_for(serving, 30)  # ends within its short grace, not the 600 s read deadline
    assert answer == b"", answer  # closed without a word
