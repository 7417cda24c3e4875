"""The worker's nano_node client: x402fac.nano.node over FailoverHttp (failover between a network's nodes), and
a shared confirmation watcher.

A node's `{"error": ...}` answer is a NodeError carrying the node's message (the request reached a node); a
transport failure moves on to the next URL, and NodeUnavailable means none answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from x402fac.nano import node
from x402fac.nano.node import NodeError
from x402fac.rpc import BatchWatcher, FailoverHttp, NodeUnavailable

__all__ = ["BlockReader", "ConfirmationWatcher", "NanoNode", "NodeError"]

log = logging.getLogger(__name__)


class NanoNode(node.NanoNode):
    """nano_node RPC for one network: the first healthy URL serves; a transport failure fails over."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        super().__init__(FailoverHttp(urls, timeout, max_connections))

    def malformed(self, action: str, answer: Any) -> Exception:
        # Not an answer from a working node: as unsure as a transport failure.
        return NodeUnavailable(f"{action}: the node answered {answer!r:.80}, not a JSON object")

    async def process_send(self, block: dict[str, Any]) -> str:
        return await self.process(block, "send")


class BlockReader:
    """`block_info` for many concurrent callers through batched `blocks_info` requests.

    No timer and no cap on requests in flight: the lookups asked for within one turn of the event loop
    (the verifies one read from NATS delivered) leave together in one request, as soon as that turn ends.
    """

    def __init__(self, node: NanoNode, max_batch: int = 200) -> None:
        self.node = node
        self.max_batch = max_batch
        self._queued: dict[str, list[asyncio.Future]] = {}
        self._scheduled = False
        self._sending: set[asyncio.Task] = set()  # referenced until done: the loop keeps only weak ones

    async def block(self, block_hash: str) -> dict[str, Any] | None:
        """The node's `blocks_info` entry of the block (upper-case hex hash), or None if it lacks it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._queued.setdefault(block_hash, []).append(future)
        if not self._scheduled:
            self._scheduled = True
            task = loop.create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return await future

    async def _send(self) -> None:
        self._scheduled = False  # what is asked from now on goes in the next request
        waiting, self._queued = self._queued, {}
        hashes = list(waiting)
        for start in range(0, len(hashes), self.max_batch):
            batch = hashes[start : start + self.max_batch]
            try:
                blocks = await self.node.blocks_info(batch)
            except Exception as error:
                blocks, failure = {}, error
            else:
                failure = None
            for block_hash in batch:
                for future in waiting[block_hash]:
                    if future.done():
                        continue
                    if failure is not None:
                        future.set_exception(failure)
                    else:
                        future.set_result(blocks.get(block_hash))


class ConfirmationWatcher(BatchWatcher):
    """Waits for many blocks' confirmation with batched `blocks_info` requests.

    A block is first asked about once the network has confirmed about half of the blocks (`expected`,
    learned from the answers), then every `interval`: a settle costs one or two requests instead of a
    poll every few milliseconds from the moment it was published, and waits hardly longer than its
    confirmation (a higher percentile would answer most settles late). `expected` shrinks when a
    request's first asks find their blocks confirmed and grows when they do not, one step per request
    (blocks published together are asked together).
    """

    SHRINK = 0.85
    GROW = 1 / SHRINK  # equal steps up and down: first asks find about half the blocks confirmed
    MAX_EXPECTED = 2.0

    def __init__(self, node: NanoNode, interval: float, max_batch: int = 200) -> None:
        super().__init__(interval, max_batch)
        self.node = node
        self.expected = self.interval
        self._due: dict[str, float] = {}  # block -> when to ask next
        self._unasked: set[str] = set()  # blocks not asked about yet: their first answer teaches `expected`

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        blocks = await self.node.blocks_info(ids)
        return {block_hash: True for block_hash, entry in blocks.items() if entry.get("confirmed") == "true"}

    async def wait(self, id_: str, timeout: float) -> bool:
        """True once the block is confirmed; False if it is not within `timeout` seconds."""
        if id_ not in self._due:
            self._due[id_] = time.monotonic() + self.expected
            self._unasked.add(id_)
        try:
            return await super().wait(id_, timeout) is not None
        finally:
            if id_ not in self._waiters:
                self._due.pop(id_, None)
                self._unasked.discard(id_)

    async def _poll(self) -> None:
        while self._waiters:
            self._arrived.clear()
            now = time.monotonic()
            # Blocks due within the next `min_gap` ride along: one request instead of one each.
            horizon = now + self.min_gap
            due = [id_ for id_ in self._waiters if self._due.get(id_, now) <= horizon]
            if not due:
                first = min(self._due.get(id_, now) for id_ in self._waiters)
                with contextlib.suppress(TimeoutError):  # a new block may be due sooner
                    await asyncio.wait_for(self._arrived.wait(), first - now)
                continue
            self._last_poll = now
            for start in range(0, len(due), self.max_batch):
                await self._ask(due[start : start + self.max_batch])
            since = time.monotonic() - self._last_poll
            if since < self.min_gap:
                await asyncio.sleep(self.min_gap - since)

    async def _ask(self, ids: list[str]) -> None:
        try:
            done = await self.fetch(ids)
        except Exception as exc:
            log.warning("%s poll failed: %s", type(self).__name__, exc)
            done = None
        later = time.monotonic() + self.interval
        if done is not None:
            first = [id_ for id_ in ids if id_ in self._unasked]
            self._unasked.difference_update(first)
            if first:
                self._learn(sum(id_ in done for id_ in first) / len(first))
        for id_ in ids:
            if done is not None and id_ in done:
                for future in self._waiters.pop(id_, []):
                    if not future.done():
                        future.set_result(done[id_])
                self._due.pop(id_, None)
            elif id_ in self._due:
                self._due[id_] = later

    def _learn(self, confirmed: float) -> None:
        """One step per request, whatever its size: `confirmed` is the share of its first asks that found
        the block confirmed (all: shrink, none: grow, in between: the weighted mix of both)."""
        step = self.SHRINK**confirmed * self.GROW ** (1 - confirmed)
        self.expected = min(self.MAX_EXPECTED, max(self.first_poll, self.expected * step))
