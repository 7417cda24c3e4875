"""The discovery catalog (OpenX402 `/discovery/resources`, the x402 Bazaar): resources that were paid for.

How a resource gets listed: a settle that *succeeded* carried `paymentPayload.resource.url` and a
valid `bazaar` extension (the gateway checks both), or an operator registered it. So a stranger
cannot fill the catalog for free: every listing by settle is a payment that reached the chain, a
listing is keyed by (URL, payTo) so nobody can overwrite another receiver's entry, each payTo holds
at most `discovery_per_pay_to` resources, the whole catalog at most `discovery_max_resources`, an
entry at most `MAX_ENTRY_BYTES`, and entries not paid for again within the retention are forgotten.

Pages are stable under concurrent inserts: entries are ordered by the bucket revision that first
created them (new ones go to the end), and every replica answers from an index kept by a watcher on
the bucket, after catching up with the bucket's last revision (so `total` counts every insert that
was acknowledged before the list request).
"""

import asyncio
import contextlib
import hashlib
import logging
import time

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import cancel_and_wait, watch_all
from x402fac.protocol.ledger import (
    CatalogEntry,
    DiscoveryAddReply,
    DiscoveryAddRequest,
    DiscoveryListReply,
    DiscoveryListRequest,
    DiscoveryRemoveRequest,
)

log = logging.getLogger(__name__)
MAX_ENTRY_BYTES = 16 * 1024
MAX_RESOURCES = 10_000  # the whole catalog
PER_PAY_TO = 20  # resources one receiver may have listed
DISCOVERY_RETENTION_SECONDS = 30 * 86_400.0  # an entry nobody paid for again in this long is forgotten
MAX_ACCEPTS = 8
MAX_PAGE = 1000
CATCH_UP_SECONDS = 2.0
ADD_ATTEMPTS = 5
_decode = msgspec.json.Decoder(CatalogEntry).decode
_encode = msgspec.json.encode


def entry_key(resource: str, pay_to: str) -> str:
    return hashlib.sha256(f"{resource}\n{pay_to}".encode()).hexdigest()[:40]


def _same_kind(a, b) -> bool:
    return (a.scheme, a.network, a.asset, a.pay_to) == (b.scheme, b.network, b.asset, b.pay_to)


def merge_accepts(old: list, new: list) -> list:
    """The latest requirements per (scheme, network, asset, payTo), newest first, at most MAX_ACCEPTS."""
    merged = list(new)
    merged.extend(a for a in old if not any(_same_kind(a, b) for b in new))
    return merged[:MAX_ACCEPTS]


def _text(entry: CatalogEntry) -> str:
    info = _encode(entry.bazaar).decode() if entry.bazaar else ""
    return " ".join((entry.resource, entry.description, entry.method, entry.mime_type, info)).lower()


def matches(entry: CatalogEntry, request: DiscoveryListRequest) -> bool:
    if request.type and entry.type != request.type:
        return False
    if request.pay_to and entry.pay_to.lower() != request.pay_to.lower():
        return False
    if request.network and not any(a.network == request.network for a in entry.accepts):
        return False
    if request.scheme and not any(a.scheme == request.scheme for a in entry.accepts):
        return False
    if request.query:
        text = _text(entry)
        return all(word in text for word in request.query.lower().split())
    return True


class Catalog:
    def __init__(
        self,
        js: JetStreamContext,
        bucket: KeyValue,
        name: str,
        max_resources: int = MAX_RESOURCES,
        per_pay_to: int = PER_PAY_TO,
        max_age: float = DISCOVERY_RETENTION_SECONDS,
    ) -> None:
        self.js = js
        self.bucket = bucket
        self.stream = f"KV_{name}"
        self.max_resources = max_resources
        self.per_pay_to = per_pay_to
        self.max_age = max_age
        self.index: dict[str, CatalogEntry] = {}
        self.seen = 0  # the last bucket revision the index has applied
        self._changed = asyncio.Event()
        self._watcher = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._watcher = await watch_all(self.bucket)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()

    async def _follow(self) -> None:
        async for entry in self._watcher:
            if entry is None:  # the initial values are in
                continue
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.index.pop(entry.key, None)
            else:
                try:
                    decoded = _decode(entry.value)
                except msgspec.MsgspecError:
                    log.warning("catalog entry %s is not readable", entry.key)
                else:
                    if not decoded.seq:  # just created: its seq is written right after
                        known = self.index.get(entry.key)
                        decoded.seq = known.seq if known is not None else entry.revision
                    self.index[entry.key] = decoded
            self.seen = max(self.seen, entry.revision)
            self._changed.set()

    async def _catch_up(self) -> None:
        """Wait until the index holds every write the bucket acknowledged before this call."""
        target = (await self.js.stream_info(self.stream)).state.last_seq
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while self.seen < target and (left := deadline - time.monotonic()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def _live(self) -> list[CatalogEntry]:
        cutoff = time.time() - self.max_age if self.max_age else 0.0
        return [e for e in self.index.values() if e.updated_at >= cutoff]

    async def add(self, request: DiscoveryAddRequest) -> DiscoveryAddReply:
        new = request.entry
        if not new.resource or not new.pay_to or not new.accepts:
            return DiscoveryAddReply(ok=False, error="invalid")
        new.accepts = new.accepts[:MAX_ACCEPTS]
        key = entry_key(new.resource, new.pay_to)
        for _ in range(ADD_ATTEMPTS):
            now = time.time()
            try:
                found = await self.bucket.get(key)
            except NotFoundError:
                found = None
            if found is not None and found.value:
                old = _decode(found.value)
                entry = msgspec.structs.replace(
                    new,
                    accepts=merge_accepts(old.accepts, new.accepts),
                    origin=old.origin if old.origin == "operator" else new.origin,
                    settlements=old.settlements + new.settlements,
                    created_at=old.created_at,
                    updated_at=now,
                    seq=old.seq or self._seq_of(key),
                )
                value = _encode(entry)
                if len(value) > MAX_ENTRY_BYTES:
                    return DiscoveryAddReply(ok=False, error="invalid")
                try:
                    await self.bucket.update(key, value, last=found.revision)
                except KeyWrongLastSequenceError:
                    continue
                return DiscoveryAddReply(ok=True, entry=entry)
            refused = "" if new.origin == "operator" else await self._over_limits(new.pay_to)
            if refused:
                return DiscoveryAddReply(ok=False, error=refused)
            entry = msgspec.structs.replace(new, created_at=now, updated_at=now, seq=0)
            value = _encode(entry)
            if len(value) > MAX_ENTRY_BYTES:
                return DiscoveryAddReply(ok=False, error="invalid")
            try:
                revision = await self.bucket.create(key, value)
            except KeyWrongLastSequenceError:
                continue
            # The creating revision orders the entry for good (a later update keeps it).
            entry.seq = revision
            with contextlib.suppress(KeyWrongLastSequenceError):
                await self.bucket.update(key, _encode(entry), last=revision)
            return DiscoveryAddReply(ok=True, entry=entry)
        return DiscoveryAddReply(ok=False, error="busy")

    def _seq_of(self, key: str) -> int:
        known = self.index.get(key)
        return known.seq if known is not None else 0

    async def _over_limits(self, pay_to: str) -> str:
        await self._catch_up()
        live = self._live()
        if self.max_resources and len(live) >= self.max_resources:
            return "catalog_full"
        if self.per_pay_to and sum(1 for e in live if e.pay_to == pay_to) >= self.per_pay_to:
            return "pay_to_full"
        return ""

    async def list(self, request: DiscoveryListRequest) -> DiscoveryListReply:
        await self._catch_up()
        found = sorted(
            (e for e in self._live() if matches(e, request)), key=lambda e: (e.seq or 1 << 62, e.resource)
        )
        offset = max(0, request.offset)
        limit = max(0, min(request.limit, MAX_PAGE))
        return DiscoveryListReply(entries=found[offset : offset + limit], total=len(found))

    async def remove(self, request: DiscoveryRemoveRequest) -> DiscoveryAddReply:
        await self._catch_up()
        removed = False
        for key, entry in list(self.index.items()):
            if entry.resource == request.resource and (not request.pay_to or entry.pay_to == request.pay_to):
                with contextlib.suppress(NotFoundError):
                    await self.bucket.delete(key)
                    removed = True
        return DiscoveryAddReply(ok=removed)
