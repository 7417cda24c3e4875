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
