"""The lean request and JetStream publish answer as nats-py's own: replies and acknowledgements matched
to their requests under concurrency, no responders, timeouts, de-duplication, counter totals,
key-value compare-and-set refusals, a deleted key created again, no stream, and a stream's
expectation refused. Real nats-server."""

import asyncio

import nats.errors
import pytest
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, KeyWrongLastSequenceError, NoStreamResponseError

from x402fac.bus import EmbeddedNats, FastJetStream, connect, ensure_bucket, free_port, reply_mux, subjects


@pytest.fixture
async def contexts(tmp_path):
    server = EmbeddedNats(tmp_path, port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-fast-js", credentials=server.credentials("ledger"))
    try:
        yield FastJetStream(nc), nc.jetstream()
    finally:
        await nc.close()
        server.stop()


async def test_concurrent_publishes_each_get_their_own_acknowledgement(contexts):
    fast, _ = contexts
    await fast.add_stream(
        StreamConfig(name="FASTJS", subjects=[f"{subjects.USAGE_PREFIX}.fastjs.>"], storage=StorageType.FILE)
    )
    acks = await asyncio.gather(
        *(fast.publish(f"{subjects.USAGE_PREFIX}.fastjs.{i}", str(i).encode()) for i in range(200))
    )
    assert sorted(ack.seq for ack in acks) == list(range(1, 201))
    for i, ack in enumerate(acks):  # each acknowledgement is its own publish's
        stored = await fast.get_msg("FASTJS", ack.seq)
        assert stored.data == str(i).encode() and ack.stream == "FASTJS"
    again = await fast.publish(f"{subjects.USAGE_PREFIX}.fastjs.0", b"x", headers={"Nats-Msg-Id": "once"})
    duplicate = await fast.publish(f"{subjects.USAGE_PREFIX}.fastjs.0", b"x", headers={"Nats-Msg-Id": "once"})
    assert not again.duplicate and duplicate.duplicate and duplicate.seq == again.seq


async def test_counter_totals_and_refusals_are_nats_py_s(contexts):
    fast, plain = contexts
    await fast.add_stream(
        StreamConfig(
            name="FASTCOUNT",
            subjects=[f"{subjects.RATE_PREFIX}.fastjs.>"],
            storage=StorageType.FILE,
            allow_msg_counter=True,
            max_msgs_per_subject=1,
        )
    )
    totals = [
        int((await fast.publish(f"{subjects.RATE_PREFIX}.fastjs.a", b"", headers={"Nats-Incr": "+2"})).val)
        for _ in range(3)
    ]
    assert totals == [2, 4, 6]
    with pytest.raises(NoStreamResponseError):
        await fast.publish(f"{subjects.RECENT_PREFIX}.fastjs", b"x")
    with pytest.raises(APIError) as refused:
        await fast.publish(f"{subjects.RATE_PREFIX}.fastjs.a", b"", stream="ANOTHER")
    with pytest.raises(APIError) as refused_plain:
        await plain.publish(f"{subjects.RATE_PREFIX}.fastjs.a", b"", stream="ANOTHER")
    assert refused.value.err_code is not None
    assert (type(refused.value), refused.value.err_code) == (
        type(refused_plain.value),
        refused_plain.value.err_code,
    )


async def test_a_bucket_on_the_fast_context_keeps_compare_and_set(contexts):
    fast, _ = contexts
    kv = await ensure_bucket(fast, "x402fac_test_fastjs")
    first = await kv.create("k", b"1")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("k", b"again")  # the atomic claim: a second create is refused
    second = await kv.update("k", b"2", last=first)
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.update("k", b"3", last=first)  # a stale revision is refused
    await kv.delete("k", last=second)
    recreated = await kv.create("k", b"4")  # a deleted key may be claimed anew
    assert recreated > second and (await kv.get("k")).value == b"4"
    await kv.put("p", b"x")
    assert (await kv.get("p")).value == b"x"


async def test_requests_through_the_mux_get_their_own_replies_or_nats_py_s_errors(contexts):
    fast, _ = contexts
    nc = fast._nc
    ledger = f"{subjects.SERVICE_PREFIX}.ledger"

    async def echo(msg):
        await msg.respond(msg.data + b"!")

    async def silent(msg):
        pass

    await nc.subscribe(f"{ledger}.echo", cb=echo)
    await nc.subscribe(f"{ledger}.silent", cb=silent)
    replies = await asyncio.gather(
        *(reply_mux.request(nc, f"{ledger}.echo", b"%d" % i, 5.0) for i in range(100))
    )
    assert [reply.data for reply in replies] == [b"%d!" % i for i in range(100)]
    with pytest.raises(nats.errors.NoRespondersError):
        await reply_mux.request(nc, f"{ledger}.nobody", b"", 5.0)
    with pytest.raises(nats.errors.TimeoutError):
        await reply_mux.request(nc, f"{ledger}.silent", b"", 0.2)
    assert (await reply_mux.request(nc, f"{ledger}.echo", b"after", 5.0)).data == b"after!"
