"""The shared watcher: one batched fetch for every waiting id, a quick first look, bounded poll rate."""

import asyncio
import time

from x402fac.rpc import BatchWatcher


class Chain(BatchWatcher):
    """Ids become done at a set time; records every fetch."""

    def __init__(self, done_at: dict[str, float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.done_at = done_at
        self.fetches: list[tuple[float, list[str]]] = []

    async def fetch(self, ids: list[str]) -> dict[str, str]:
        now = time.monotonic()
        self.fetches.append((now, list(ids)))
        return {i: f"receipt-{i}" for i in ids if self.done_at.get(i, float("inf")) <= now}


async def test_a_fast_result_is_seen_long_before_the_interval():
    start = time.monotonic()
    chain = Chain({"a": start + 0.01}, interval=1.0, max_batch=10)
    result = await chain.wait("a", timeout=5)
    assert result == "receipt-a"
    assert time.monotonic() - start < 0.5  # a whole 1 s interval was not waited
    await chain.close()


async def test_many_waiters_share_batched_fetches_and_polls_stay_apart():
    start = time.monotonic()
    ids = [f"tx{i}" for i in range(30)]
    chain = Chain({i: start + 0.2 for i in ids}, interval=0.1, max_batch=50, min_gap=0.02)

    async def staggered(i: int, tx: str) -> str:
        await asyncio.sleep(i * 0.003)
        return await chain.wait(tx, timeout=5)

    results = await asyncio.gather(*(staggered(i, tx) for i, tx in enumerate(ids)))
    assert results == [f"receipt-{tx}" for tx in ids]
    assert max(len(batch) for _, batch in chain.fetches) > 1  # one fetch served many waiters
    gaps = [b[0] - a[0] for a, b in zip(chain.fetches, chain.fetches[1:], strict=False)]
    assert min(gaps) >= 0.018
    await chain.close()


async def test_timeout_gives_none_and_forgets_the_id():
    chain = Chain({}, interval=0.02, max_batch=10)
    assert await chain.wait("never", timeout=0.1) is None
    assert chain._waiters == {}
    await chain.close()
