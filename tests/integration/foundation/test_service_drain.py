"""A stopping service answers the requests the server had already sent it.

The requests are published and flushed (the server has routed them to the service's connection),
then the service stops before it has read them all. nats-py's micro `Service.stop` unsubscribes its
endpoints at once and drops what arrives or waits after that: those callers waited out their
timeout, not knowing whether anything was done (a ledger's `submit` among them).
"""

import asyncio
import shutil

from x402fac.bus import (
    BusTimeout,
    EmbeddedNats,
    ServiceRunner,
    Unavailable,
    access,
    connect,
    free_port,
    request_raw,
)

REQUESTS = 200

ECHO = "x402.ledger.drain_test_echo"


async def test_requests_routed_to_a_stopping_service_are_answered(tmp_path):
    root = tmp_path
    nats = EmbeddedNats(root, port=free_port())
    await nats.start()
    # Served and asked as the ledger's bus user: its own subjects (x402.ledger.>) and service name.
    ledger = nats.credentials(access.LEDGER)
    server = await connect(nats.url, name="service", credentials=ledger)
    client = await connect(nats.url, name="caller", credentials=ledger)
    try:
        served: list[bytes] = []
        serving = asyncio.Event()

        async def echo(data: bytes, _headers) -> bytes:
            served.append(data)
            serving.set()
            return data

        runner = ServiceRunner(server, "x402fac-ledger", "0.0.1", "drain-test")
        await runner.start({"echo": (ECHO, echo)})
        calls = [
            asyncio.ensure_future(request_raw(client, ECHO, str(n).encode(), 3.0)) for n in range(REQUESTS)
        ]

        # Stop once the service is answering, with the rest of the requests routed to it or on their way.
        await asyncio.wait_for(serving.wait(), 10.0)
        await runner.stop()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        answered = [o for o in outcomes if isinstance(o, bytes)]
        lost = [o for o in outcomes if isinstance(o, BusTimeout)]
        assert not lost, f"{len(lost)} requests dropped by the stopping service, {len(answered)} answered"
        assert all(isinstance(o, bytes | Unavailable) for o in outcomes), outcomes
        assert sorted(answered) == sorted(served)
        assert answered
    finally:
        await client.close()
        await server.close()
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)


class LaggingLink:
    """A TCP relay between a client and nats-server that, once `lag` is set, holds back what the
    client writes after a PING for `lag` seconds: the client's next commands reach the server late,
    as from a loaded process or to a loaded server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lag = 0.0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for task in (
            asyncio.create_task(self._pipe(client_reader, server_writer, lag_after_ping=True)),
            asyncio.create_task(self._pipe(server_reader, client_writer, lag_after_ping=False)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pipe(self, reader, writer, lag_after_ping: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                ping = chunk.find(b"PING\r\n") + len(b"PING\r\n") if lag_after_ping and self.lag else 0
                if ping >= len(b"PING\r\n"):  # up to the PING now, what follows it later
                    writer.write(chunk[:ping])
                    await writer.drain()
                    await asyncio.sleep(self.lag)
                    chunk = chunk[ping:]
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_requests_arriving_while_its_unsubscribe_travels_are_answered(tmp_path):
    """Callers keep asking while the service stops, and what it writes after its last PING reaches
    the server late: every request the server routed to the service until it saw the unsubscribe is
    answered (none waits out its timeout), and later ones find no responders at once."""
    nats = EmbeddedNats(tmp_path, port=free_port())
    await nats.start()
    link = LaggingLink(nats.port)
    port = await link.start()
    ledger = nats.credentials(access.LEDGER)
    server = await connect(f"nats://127.0.0.1:{port}", name="service", credentials=ledger)
    client = await connect(nats.url, name="caller", credentials=ledger)

    async def echo(data: bytes, _headers) -> bytes:
        return data

    async def ask(count: int) -> list[object]:
        calls = (request_raw(client, ECHO, b"x", 2.0) for _ in range(count))
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        runner = ServiceRunner(server, "x402fac-ledger", "0.0.1", "drain-test")
        await runner.start({"echo": (ECHO, echo)})
        assert await ask(20) == [b"x"] * 20
        link.lag = 0.5
        stopping = asyncio.create_task(runner.stop())
        await asyncio.sleep(0.1)  # its PING is out; what it wrote after that is on its way
        outcomes = await ask(20)
        await stopping
        lost = [o for o in outcomes if isinstance(o, BusTimeout)]
        assert not lost, f"{len(lost)} of 20 requests dropped by the stopping service: {outcomes}"
        assert all(o == b"x" or isinstance(o, Unavailable) for o in outcomes), outcomes
    finally:
        await client.close()
        await server.close()
        await link.close()
        nats.stop()
