"""A work item being handled is reported in progress every `every` seconds, and no more once stopped."""

import asyncio

from x402fac.bus.workqueue import StillWorking


class Item:
    def __init__(self, fails: bool = False) -> None:
        self.beats: asyncio.Queue[int] = asyncio.Queue()
        self.fails = fails

    async def in_progress(self) -> None:
        self.beats.put_nowait(1)
        if self.fails:
            raise ConnectionError("NATS away")

    async def beaten(self, times: int) -> None:
        for _ in range(times):  # bounded by the test's timeout
            await self.beats.get()


async def test_beats_while_working_and_stops_when_done():
    item = Item()
    still = StillWorking(item, 0.02)
    await item.beaten(3)
    still.stop()
    left = item.beats.qsize()
    await asyncio.sleep(0.06)
    assert item.beats.qsize() == left


async def test_a_quick_item_never_beats():
    item = Item()
    StillWorking(item, 0.05).stop()
    await asyncio.sleep(0.08)
    assert item.beats.empty()


async def test_a_failed_beat_does_not_stop_the_next():
    item = Item(fails=True)
    still = StillWorking(item, 0.02)
    await item.beaten(2)  # the second beat comes after the first failed
    still.stop()
    assert item.beats.empty()
