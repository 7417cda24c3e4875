"""The signer pool's leases on a real nats-server: each key held by one live replica at a time."""

import asyncio
import uuid

import pytest

from tests.fixtures.stack import Stack
from x402fac.bus import access, connect, subjects
from x402fac.worker.leases import LeasePool


@pytest.fixture
async def leases():
    stack = await Stack.start()
    # As an EVM worker holds them: its own bus user, allowed this bucket and nothing else of JetStream.
    worker = access.worker("evm")
    nc = await connect(stack.nats_url, name="test-leases", credentials=stack.nats.credentials(worker))
    yield await nc.jetstream().key_value(subjects.LEASES_BUCKET)
    await nc.close()
    await stack.close()


POOL = uuid.uuid4().hex[:8]


def _pool(kv, keys, name, acquired: list[str] | None = None, ttl=1.5, margin=0.5) -> LeasePool:
    on_acquired = acquired.append if acquired is not None else None
    return LeasePool(kv, f"test-{POOL}", keys, name, ttl=ttl, margin=margin, on_acquired=on_acquired)


async def test_two_replicas_two_keys_one_each(leases):
    # Leases that outlive slow rounds on a loaded machine: the share-out is what is checked, not expiry.
    a, b = _pool(leases, ["k1", "k2"], "a", ttl=6.0), _pool(leases, ["k1", "k2"], "b", ttl=6.0)
    await a.start()
    assert a.usable_keys() == ["k1", "k2"]  # alone, it holds the whole pool
    await b.start()
    try:
        for _ in range(3):  # a sheds its extra key, b takes it; never both at once
            for pool in (a, b):
                await pool.round()
                assert not set(a.usable_keys()) & set(b.usable_keys())
        assert sorted(a.usable_keys() + b.usable_keys()) == ["k1", "k2"]
        assert len(a.usable_keys()) == len(b.usable_keys()) == 1
    finally:
        await a.stop()
        await b.stop()


async def test_more_replicas_than_keys_leaves_one_without(leases):
    a, b = _pool(leases, ["only"], "a"), _pool(leases, ["only"], "b")
    await a.start()
    await b.start()
    try:
        for _ in range(3):
            await a.round()
            await b.round()
        assert (a.usable_keys(), b.usable_keys()) == (["only"], [])
    finally:
        await a.stop()
        await b.stop()


async def test_a_stopped_replica_hands_its_key_over(leases):
    taken: list[str] = []
    a, b = _pool(leases, ["k"], "a"), _pool(leases, ["k"], "b", taken)
    await a.start()
    await b.start()
    assert b.usable_keys() == []
    await a.stop()  # SIGTERM drain: released at once
    await b.round()
    assert b.usable_keys() == ["k"] and taken == ["k"]
    await b.stop()


async def test_a_dead_replica_stops_signing_before_its_key_moves(leases):
    a, b = _pool(leases, ["k"], "a"), _pool(leases, ["k"], "b")
    await a.start()
    a._task.cancel()  # dies: no renewal, no release
    await b.start()
    overlaps = 0
    for _ in range(40):
        await asyncio.sleep(0.1)
        await b.round()
        overlaps += a.usable("k") and b.usable("k")
    assert overlaps == 0
    assert not a.usable("k") and b.usable("k")  # fenced by time, then taken over after expiry
    await b.stop()
