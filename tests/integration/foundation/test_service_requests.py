"""A service's requests are served side by side, each from a task made as it arrives, and micro's
statistics ($SRV.STATS) still count them; requests and their replies still flow after the server
restarted (the subscriptions are made again on the reconnect). Real nats-server."""

import asyncio
import json

import pytest

from x402fac.bus import (
    BusError,
    EmbeddedNats,
    RemoteError,
    ServiceRunner,
    access,
    connect,
    free_port,
    request_raw,
)

ECHO = "x402.ledger.requests_test_echo"
FAILS = "x402.ledger.requests_test_fails"


@pytest.fixture
async def connections(tmp_path):
    nats = EmbeddedNats(tmp_path, port=free_port())
    await nats.start()
    ledger = nats.credentials(access.LEDGER)  # its own subjects (x402.ledger.>) and service name
    server = await connect(nats.url, name="service", credentials=ledger)
    client = await connect(nats.url, name="caller", credentials=ledger)
    operator = await connect(nats.url, name="operator", credentials=nats.credentials(access.ADMIN))
    try:
        yield server, client, operator, nats
    finally:
        await operator.close()
        await client.close()
        await server.close()
        nats.stop()


async def test_a_request_waiting_does_not_hold_up_the_next_and_each_is_counted(connections):
    server, client, operator, _ = connections
    second_served = asyncio.Event()

    async def echo(data: bytes, _headers) -> bytes:
        if data == b"first":  # waits for the next request to the same endpoint to be served meanwhile
            try:
                await asyncio.wait_for(second_served.wait(), 2.0)
            except TimeoutError:
                return b"first, served alone"
        second_served.set()
        return data

    async def fails(_data: bytes, _headers) -> bytes:
        raise RuntimeError("boom")

    runner = ServiceRunner(server, "x402fac-ledger", "0.0.1", "requests-test")
    await runner.start({"echo": (ECHO, echo), "fails": (FAILS, fails)})
    try:
        first = asyncio.ensure_future(request_raw(client, ECHO, b"first", 5.0))
        await asyncio.sleep(0.05)
        assert not first.done()
        assert await request_raw(client, ECHO, b"second", 5.0) == b"second"
        assert await first == b"first"
        with pytest.raises(RemoteError) as failed:
            await request_raw(client, FAILS, b"", 5.0)
        assert failed.value.code == "internal_error"
        assert runner.inflight == 0

        stats = json.loads((await operator.request("$SRV.STATS.x402fac-ledger", b"", timeout=5.0)).data)
        assert {e["name"]: e["num_requests"] for e in stats["endpoints"]} == {"echo": 2, "fails": 1}
    finally:
        await runner.stop()


async def test_requests_and_replies_flow_again_after_the_server_restarted(connections):
    server, client, _, nats = connections

    async def echo(data: bytes, _headers) -> bytes:
        return data

    runner = ServiceRunner(server, "x402fac-ledger", "0.0.1", "requests-test")
    await runner.start({"echo": (ECHO, echo)})
    try:
        assert await request_raw(client, ECHO, b"before", 5.0) == b"before"
        nats.stop()
        await nats.start()
        # Both connections come back on their own, and subscribe again (the service's endpoint on one,
        # the reply mux on the other): until then a request finds no responder or no way back.
        echoed = None
        for _ in range(100):
            try:
                echoed = await request_raw(client, ECHO, b"again", 1.0)
                break
            except BusError:
                await asyncio.sleep(0.1)
        assert echoed == b"again"
        answers = await asyncio.gather(*(request_raw(client, ECHO, b"%d" % i, 5.0) for i in range(20)))
        assert answers == [b"%d" % i for i in range(20)]
    finally:
        await runner.stop()
