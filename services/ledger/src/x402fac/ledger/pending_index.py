"""The pending bucket's keys as one ledger replica sees them: what the reconcilers list, kept current
by a watcher (never a scan of settled history)."""

import asyncio
import contextlib
import logging

from nats.js.kv import KeyValue

from x402fac.bus import cancel_and_wait, watch_all

log = logging.getLogger(__name__)


class PendingIndex:
    """The pending bucket's keys (payment id -> family) as this replica sees them, kept current by one
    KV watcher instead of listing the bucket for every reconcile pass."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self._families: dict[str, bytes] = {}
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow_forever())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 10.0)  # the keys that exist now are known

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def keys_of(self, family: bytes) -> list[str]:
        return [key for key, owner in list(self._families.items()) if owner == family]

    def holds(self, key: str) -> bool:
        return key in self._families

    def __len__(self) -> int:
        return len(self._families)

    async def _follow_forever(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS away or the watcher lost: start over from the bucket
                log.warning("pending index watch restarts: %s", exc)
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        watcher = await watch_all(self.kv)
        seen: dict[str, bytes] = {}
        initial = True
        try:
            # Straight from the watcher's queue: `updates(timeout=)` makes a task per entry (two per
            # settle), and nothing is to be done when none comes for a while.
            async for entry in watcher:
                if entry is None:  # every key that existed is delivered: the index is complete
                    if initial:
                        self._families, initial = seen, False
                        self._ready.set()
                    continue
                target = seen if initial else self._families
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    target.pop(entry.key, None)
                else:
                    target[entry.key] = entry.value
            raise RuntimeError("the watcher stopped")
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()
