"""The shared watcher: one batched fetch for every waiting id, a quick first look, bounded poll rate."""

import asyncio
import itertools
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


async def test_many_waiters_share_batched_fetches_and_arrivals_do_not_flood_the_node():
    start = time.monotonic()
    ids = [f"tx{i}" for i in range(30)]
    chain = Chain({i: start + 0.2 for i in ids}, interval=0.1, max_batch=50, min_gap=0.02)
    last_arrival = 0.0

    async def staggered(i: int, tx: str) -> str:
        nonlocal last_arrival
        await asyncio.sleep(i * 0.003)
        last_arrival = time.monotonic()
        return await chain.wait(tx, timeout=5)

    results = await asyncio.gather(*(staggered(i, tx) for i, tx in enumerate(ids)))
    assert results == [f"receipt-{tx}" for tx in ids]
    assert max(len(batch) for _, batch in chain.fetches) > 1  # one fetch served many waiters
    # An arrival every 3 ms, and still the polls they bring are min_gap apart
    while_arriving = [at for at, _ in chain.fetches if at <= last_arrival]
    gaps = [b - a for a, b in itertools.pairwise(while_arriving)]
    assert gaps and min(gaps) >= 0.018
    await chain.close()


async def test_a_lone_id_looked_at_too_early_is_looked_at_again_before_the_min_gap():
    """One transaction at a time on a fast chain: the first look comes as it is sent, usually before the
    block; the next follows the back-off (first_poll), not the gap that spaces polls under arrivals."""
    start = time.monotonic()
    chain = Chain({"a": start + 0.03}, interval=1.0, max_batch=10, first_poll=0.01, min_gap=0.5)
    assert await chain.wait("a", timeout=5) == "receipt-a"
    first, second = chain.fetches[0][0], chain.fetches[1][0]
    assert second - first < 0.25  # half the min_gap: the back-off's own schedule
    await chain.close()


async def test_timeout_gives_none_and_forgets_the_id():
    chain = Chain({}, interval=0.02, max_batch=10)
    assert await chain.wait("never", timeout=0.1) is None
    assert chain._waiters == {}
    await chain.close()


async def test_an_id_after_the_last_one_was_found_is_looked_at_at_once():
    """One settle after another: the next transaction's first look is not held back by the tick the
    previous one's poller would have waited next."""
    start = time.monotonic()
    chain = Chain({"a": start, "b": start}, interval=1.0, max_batch=10, first_poll=0.2, min_gap=0.5)
    assert await chain.wait("a", timeout=5) == "receipt-a"
    asked = time.monotonic()
    assert await chain.wait("b", timeout=5) == "receipt-b"
    assert chain.fetches[-1][0] - asked < 0.1  # neither first_poll (0.2) nor min_gap (0.5) was waited
    await chain.close()


async def test_each_new_poller_backs_off_afresh():
    """A transaction found only after a long back-off must not leave the next one's poller starting at
    that long delay."""
    start = time.monotonic()
    chain = Chain({"slow": start + 0.3}, interval=0.4, max_batch=10, first_poll=0.01, min_gap=0.01)
    assert await chain.wait("slow", timeout=5) == "receipt-slow"
    chain.done_at["next"] = time.monotonic() + 0.02  # just after its first look
    asked = time.monotonic()
    assert await chain.wait("next", timeout=5) == "receipt-next"
    assert chain.fetches[-1][0] - asked < 0.2  # not the 0.4 s the slow one's back-off had reached
    await chain.close()
