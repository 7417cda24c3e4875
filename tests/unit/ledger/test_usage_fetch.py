"""The usage aggregator pulls audit entries in batches while they come, and with one lingering pull
that returns with the first entry while none do (no pull requests every second at idle)."""

import asyncio

import nats.errors

from x402fac.ledger import usage
from x402fac.ledger.usage import BUSY_FETCH_SECONDS, FETCH_BATCH, IDLE_FETCH_SECONDS, Usage


class ScriptedSubscription:
    """Answers each fetch from a script: a list of entries, or a timeout; records what was asked."""

    def __init__(self, script: list) -> None:
        self.script = script
        self.asked: list[tuple[int, float]] = []
        self.done = asyncio.Event()

    async def fetch(self, batch: int, timeout: float) -> list:
        self.asked.append((batch, timeout))
        if not self.script:
            self.done.set()
            await asyncio.Event().wait()  # nothing more: wait like an idle pull, until cancelled
        step = self.script.pop(0)
        if step is TimeoutError:
            raise nats.errors.TimeoutError
        return step


async def test_idle_waits_in_one_pull_and_entries_bring_back_batches():
    counted: list[str] = []

    async def count(msg) -> None:
        counted.append(msg)

    aggregator = Usage.__new__(Usage)
    aggregator._count = count  # type: ignore[method-assign]
    aggregator._subscription = ScriptedSubscription(
        [["a", "b"], TimeoutError, TimeoutError, ["c"], ["d"], TimeoutError]
    )
    task = asyncio.create_task(aggregator._run())
    await aggregator._subscription.done.wait()
    task.cancel()
    busy, idle = (FETCH_BATCH, BUSY_FETCH_SECONDS), (1, IDLE_FETCH_SECONDS)
    assert aggregator._subscription.asked == [busy, busy, idle, idle, busy, busy, idle]
    assert counted == ["a", "b", "c", "d"]  # every entry counted once, whichever pull brought it
    assert IDLE_FETCH_SECONDS > BUSY_FETCH_SECONDS and usage.FETCH_BATCH > 1
