"""JSON-RPC reads asked together travel together: concurrent `batch` calls in one event-loop tick
are one HTTP request, each caller gets exactly its own results (and its own errors)."""

import asyncio
import json

import pytest
from aiohttp import web

from x402fac import rpc
from x402fac.rpc import JsonRpcClient, NodeUnavailable, RpcError


class EchoNode:
    """A JSON-RPC node over HTTP: `echo` returns its parameter, `fail` answers an error, `unanswered`
    is left out of the reply; it counts the HTTP requests it gets and the calls in each."""

    def __init__(self) -> None:
        self.requests: list[int] = []
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        calls = body if isinstance(body, list) else [body]
        self.requests.append(len(calls))
        if self.status != 200:
            return web.Response(status=self.status)
        replies = [
            {"jsonrpc": "2.0", "id": c["id"], "error": {"code": 1, "message": "no"}}
            if c["method"] == "fail"
            else {"jsonrpc": "2.0", "id": c["id"], "result": c["params"][0]}
            for c in reversed(calls)  # a node may answer a batch in any order
            if c["method"] != "unanswered"  # a faulty node leaves a call out of its reply
        ]
        return web.json_response(replies if isinstance(body, list) else replies[0])


@pytest.fixture
async def node():
    echo = EchoNode()
    app = web.Application()
    app.router.add_post("/", echo.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    client = JsonRpcClient([f"http://127.0.0.1:{port}/"])
    yield echo, client
    await client.close()
    await runner.cleanup()


async def test_concurrent_reads_share_one_request_and_keep_their_own_results(node):
    echo, client = node
    asks = [[("echo", [f"{n}-{i}"]) for i in range(n % 3 + 1)] for n in range(12)]
    asks[5] = [("echo", ["5-0"]), ("fail", ["x"])]
    results = await asyncio.gather(*(client.batch(calls) for calls in asks))
    assert echo.requests == [sum(len(calls) for calls in asks)]  # one HTTP request for all twelve
    for n, got in enumerate(results):
        if n == 5:
            assert got[0] == "5-0" and isinstance(got[1], RpcError) and got[1].message == "no"
        else:
            assert got == [f"{n}-{i}" for i in range(n % 3 + 1)]


async def test_a_large_tick_is_split_and_a_lone_read_does_not_wait(node, monkeypatch):
    echo, client = node
    monkeypatch.setattr(rpc, "MAX_CALLS_PER_REQUEST", 4)
    results = await asyncio.gather(*(client.batch([("echo", [n]), ("echo", [-n])]) for n in range(5)))
    assert results == [[n, -n] for n in range(5)]
    assert echo.requests == [4, 4, 2]  # whole batches, never split across requests
    assert await client.batch([("echo", ["alone"])]) == ["alone"]
    assert echo.requests[-1] == 1


async def test_a_lone_read_is_sent_from_its_callers_task(node):
    echo, client = node
    spawned: list = []
    client._spawn = spawned.append  # a request sent by a task of the client's would be handed here
    alone, failed = await asyncio.wait_for(client.batch([("echo", ["alone"]), ("fail", ["x"])]), 5)
    assert alone == "alone" and isinstance(failed, RpcError) and failed.message == "no"
    assert spawned == [] and echo.requests == [2]


async def test_the_first_read_of_a_tick_cancelled_while_it_waits_lets_the_others_go(node):
    echo, client = node
    first = asyncio.ensure_future(client.batch([("echo", ["first"])]))
    second = asyncio.ensure_future(client.batch([("echo", ["second"])]))
    await asyncio.sleep(0)  # both asked: the first waits out its tick, the second waits for it
    first.cancel()
    assert await asyncio.wait_for(second, 5) == ["second"]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert echo.requests == [1]


async def test_a_failed_request_fails_each_of_its_callers(node):
    echo, client = node
    echo.status = 503
    outcomes = await asyncio.gather(
        *(client.batch([("echo", [n])]) for n in range(3)), return_exceptions=True
    )
    assert echo.requests == [3]
    assert all(isinstance(outcome, NodeUnavailable) for outcome in outcomes)
    assert len({id(outcome) for outcome in outcomes}) == 3  # each caller its own exception
    echo.status = 200
    assert await client.batch([("echo", ["back"])]) == ["back"]  # the single node is tried again


async def test_reads_left_queued_by_an_ended_event_loop_do_not_strand_the_next_one(node):
    """A client can outlive an event loop (a tool or a test that ends mid-request): what that loop
    left queued is dropped with it, and this loop's reads still go out."""
    _, client = node
    ended = asyncio.new_event_loop()
    client._queued, client._queue_loop = [([("echo", ["lost"])], ended.create_future())], ended
    ended.close()
    assert await asyncio.wait_for(client.batch([("echo", ["next"])]), 5) == ["next"]


async def test_a_write_shares_the_request_of_its_tick_and_keeps_its_own_answer(node):
    """Writes asked beside reads go in the same HTTP request; each gets its result or its own error
    raised, and a call the reply left out is of unknown delivery, never a refusal."""
    echo, client = node
    outcomes = await asyncio.gather(
        client.write("echo", "0xsent"),
        client.write("fail", "0xrefused"),
        client.write("unanswered", "0xlost"),
        client.batch([("echo", ["read"])]),
        return_exceptions=True,
    )
    assert echo.requests == [4]
    sent, refused, lost, read = outcomes
    assert sent == "0xsent" and read == ["read"]
    assert isinstance(refused, RpcError) and refused.message == "no"
    assert isinstance(lost, NodeUnavailable) and lost.maybe_delivered


async def test_a_write_in_a_failed_request_may_have_been_delivered(node):
    echo, client = node
    echo.status = 503
    with pytest.raises(NodeUnavailable) as failed:
        await client.write("echo", "0xsent")
    assert failed.value.maybe_delivered
