"""cancel_and_wait stops a loop whose `asyncio.wait_for` swallowed the cancellation (Python 3.11).

The loop is what a ledger's pending-index watcher and usage fetch run: `wait_for` on a queue that
keeps receiving. Cancelled in the same loop turn as an item arrives, 3.11's `wait_for` returns the
item and drops the cancellation; a stop that cancels once and awaits the task waits forever (a
SIGTERMed ledger killed after its grace period, exit -9).
"""

import asyncio
import sys

import pytest

from x402fac.bus import cancel_and_wait


async def _follow(queue: asyncio.Queue, seen: list[int], took: asyncio.Event) -> None:
    while True:
        try:
            seen.append(await asyncio.wait_for(queue.get(), 30))
            took.set()
        except TimeoutError:
            continue


async def _started_follower() -> tuple[asyncio.Queue, list[int], asyncio.Task]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    seen: list[int] = []
    took = asyncio.Event()
    task = asyncio.create_task(_follow(queue, seen, took))
    queue.put_nowait(0)
    await took.wait()
    return queue, seen, task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's wait_for keeps the cancellation")
async def test_a_single_cancel_is_swallowed_by_wait_for():
    """The reason for cancel_and_wait: one cancel() arriving with an item does not stop the loop."""
    queue, seen, task = await _started_follower()
    queue.put_nowait(1)
    task.cancel()
    await asyncio.wait({task}, timeout=0.5)
    try:
        assert not task.done()
        assert seen == [0, 1]  # it took the item and carried on
    finally:
        await cancel_and_wait(task)


async def test_cancel_and_wait_stops_the_loop_whose_cancel_was_swallowed():
    queue, seen, task = await _started_follower()
    queue.put_nowait(1)  # the item and the cancellation arrive together
    assert await cancel_and_wait(task) is True
    assert task.done()
    assert seen[0] == 0


async def test_cancel_and_wait_reports_a_task_that_will_not_stop():
    released = asyncio.Event()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if released.is_set():
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, timeout=0.3) is False
    assert not task.done()
    released.set()
    assert await cancel_and_wait(task) is True


async def test_cancel_and_wait_of_nothing_or_a_finished_task():
    assert await cancel_and_wait(None) is True
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    assert await cancel_and_wait(done) is True
