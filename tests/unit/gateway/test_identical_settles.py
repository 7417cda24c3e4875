"""Byte-identical settles share one trip; only successes are remembered."""

import asyncio

import pytest

from x402fac.gateway.core import Answer, IdenticalSettles
from x402fac.gateway.errors import GatewayError

SUCCESS = Answer(b'{"success":true,"transaction":"0xabc","network":"eip155:1"}')
FAILURE = Answer(
    b'{"success":false,"transaction":"","network":"eip155:1","errorReason":"insufficient_balance"}'
)


async def test_concurrent_copies_share_one_forward():
    calls = 0

    async def forward() -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return SUCCESS

    once = IdenticalSettles()
    answers = await asyncio.gather(*(once.run(b"body", forward) for _ in range(20)))
    assert calls == 1 and all(a is SUCCESS for a in answers)
    assert await once.run(b"body", forward) is SUCCESS and calls == 1  # remembered
    assert await once.run(b"other body", forward) is SUCCESS and calls == 2


async def test_failures_are_not_remembered():
    replies = [FAILURE, SUCCESS]

    async def forward() -> Answer:
        return replies.pop(0)

    once = IdenticalSettles()
    assert await once.run(b"body", forward) is FAILURE
    assert await once.run(b"body", forward) is SUCCESS  # the payer topped up; the retry went through


async def test_an_error_reaches_every_waiting_copy_and_is_not_remembered():
    calls = 0

    async def forward() -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise GatewayError(503, "worker_unavailable", "none", retry_after=5)

    once = IdenticalSettles()
    results = await asyncio.gather(*(once.run(b"body", forward) for _ in range(5)), return_exceptions=True)
    assert calls == 1 and all(isinstance(r, GatewayError) and r.status == 503 for r in results)
    with pytest.raises(GatewayError):
        await once.run(b"body", forward)
    assert calls == 2


def test_memory_is_bounded():
    once = IdenticalSettles(remembered=3)

    async def fill() -> None:
        async def forward() -> Answer:
            return SUCCESS

        for i in range(10):
            await once.run(str(i).encode(), forward)

    asyncio.run(fill())
    assert len(once._settled) == 3
