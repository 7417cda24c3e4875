"""A pool of keys shared by the replicas of a worker, each key held by at most one live replica.

EVM signers carry a nonce sequence: two processes signing with one key collide ("nonce too low",
"replacement transaction underpriced"). Every replica starts with the same list of keys (one
environment, as a Kubernetes Deployment gives it); this pool hands each key to one of them through a
lease in NATS KV:

- a lease is a KV entry `{holder, expires_at}` written by compare-and-set, renewed every ttl/3;
- the holder uses a key only until `ttl - margin` after its last successful renewal (local monotonic
  clock), so a replica that cannot renew stops signing *before* anyone else may take the key over
  (fencing by time; `margin` covers clock skew between hosts);
- each replica announces itself, and holds about its share (keys / live replicas): extra keys are
  released for newcomers, free or expired ones are taken;
- a replica that takes a key over is told (`on_acquired`), so it resyncs the key's nonce from the
  chain; on shutdown a replica releases what it holds.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import bucket_keys, cancel_and_wait, encode_key

log = logging.getLogger(__name__)

MEMBER_PREFIX = "member."


class Lease(msgspec.Struct):
    holder: str
    expires_at: float  # wall clock, as other replicas judge it


@dataclass(slots=True)
class _Held:
    revision: int
    usable_until: float  # monotonic


class LeasePool:
    def __init__(
        self,
        kv: KeyValue,
        pool: str,
        keys: list[str],
        replica: str,
        *,
        ttl: float = 15.0,
        margin: float = 3.0,
        on_acquired: Callable[[str], None] | None = None,
    ) -> None:
        if margin >= ttl:
            raise ValueError("the lease margin must be shorter than its ttl")
        self.kv = kv
        self.pool = pool
        self.keys = sorted(set(keys))
        self.replica = replica
        self.ttl = ttl
        self.margin = margin
        self.on_acquired = on_acquired
        self.held: dict[str, _Held] = {}
        # Keys being handed back: no longer used here, deleted a round later, once whatever was
        # signed with them just before has been sent.
        self._draining: dict[str, _Held] = {}
        self._task: asyncio.Task | None = None

    # ---- what the signer asks ---------------------------------------------------------------------

    def usable(self, key: str) -> bool:
        held = self.held.get(key)
        return held is not None and time.monotonic() < held.usable_until

    def usable_keys(self) -> list[str]:
        return [key for key in self.keys if self.usable(key)]

    # ---- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.round()
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        """Release every key held, so another replica takes it over at once (SIGTERM drain)."""
        await cancel_and_wait(self._task)
        self._draining.update(self.held)
        self.held.clear()
        for key in list(self._draining):
            await self._release(key)
        with contextlib.suppress(Exception):
            await self.kv.delete(self._member_key())

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.round()
            except Exception as exc:  # NATS away: held keys stop being usable by themselves
                log.warning("lease round for %s failed: %s", self.pool, exc)

    # ---- one round: announce, renew, shed or take --------------------------------------------------

    async def round(self) -> None:
        replicas = await self._announce()
        share = math.ceil(len(self.keys) / max(replicas, 1))
        for key in list(self._draining):
            await self._release(key)
        for key in list(self.held):
            await self._renew(key)
        for key in list(self.held)[share:]:
            self._draining[key] = self.held.pop(key)  # a newcomer needs its share
        for key in self.keys:
            if len(self.held) >= share:
                break
            if key not in self.held and key not in self._draining:
                await self._take(key)

    def _entry(self, key: str) -> str:
        return encode_key(f"{self.pool}/{key}")

    def _member_key(self) -> str:
        return encode_key(f"{MEMBER_PREFIX}{self.pool}/{self.replica}")

    def _lease(self) -> bytes:
        return msgspec.json.encode(Lease(self.replica, time.time() + self.ttl))

    async def _announce(self) -> int:
        """Say this replica is alive; count the replicas alive (itself included)."""
        await self.kv.put(self._member_key(), self._lease())
        prefix = encode_key(f"{MEMBER_PREFIX}{self.pool}/")
        members = [k for k in await bucket_keys(self.kv) if k.startswith(prefix)]
        alive = 0
        now = time.time()
        for member in members:
            try:
                entry = await self.kv.get(member)
            except (KeyNotFoundError, NotFoundError):
                continue
            if entry.value and msgspec.json.decode(entry.value, type=Lease).expires_at > now:
                alive += 1
        return max(alive, 1)

    async def _renew(self, key: str) -> None:
        held = self.held[key]
        sent = time.monotonic()
        try:
            revision = await self.kv.update(self._entry(key), self._lease(), last=held.revision)
        except KeyWrongLastSequenceError:
            log.warning("lease on %s/%s was lost", self.pool, key)
            del self.held[key]
            return
        self.held[key] = _Held(revision, sent + self.ttl - self.margin)

    async def _take(self, key: str) -> None:
        entry_key = self._entry(key)
        sent = time.monotonic()
        try:
            try:
                current = await self.kv.get(entry_key)
            except (KeyNotFoundError, NotFoundError):
                current = None
            if current is None or not current.value:
                revision = await self.kv.create(entry_key, self._lease())
            else:
                lease = msgspec.json.decode(current.value, type=Lease)
                if lease.holder != self.replica and lease.expires_at > time.time():
                    return  # held by a live replica
                revision = await self.kv.update(entry_key, self._lease(), last=current.revision)
        except KeyWrongLastSequenceError:
            return  # another replica was faster
        self.held[key] = _Held(revision, sent + self.ttl - self.margin)
        log.info("%s holds %s/%s", self.replica, self.pool, key)
        if self.on_acquired is not None:
            self.on_acquired(key)

    async def _release(self, key: str) -> None:
        held = self._draining.pop(key, None)
        if held is None:
            return
        with contextlib.suppress(Exception):
            await self.kv.delete(self._entry(key), last=held.revision)
