"""The ledger as a NATS micro service: `x402.ledger.*` request/reply over LedgerStore."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from nats.aio.client import Client

from x402fac.bus import FastJetStream, ServiceRunner, cancel_and_wait, connect, disconnect, subjects
from x402fac.protocol import FAMILIES
from x402fac.protocol import ledger as wire
from x402fac.telemetry import NATS_CONNECTED, PENDING_OLDEST_SECONDS, PENDING_SETTLEMENTS, freeze_startup

from .config import LedgerConfig
from .discovery import Catalog
from .keys import KeyStore
from .payment_ids import PaymentIds
from .store import LedgerStore
from .usage import Usage
from .whitelist import Whitelist

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def _endpoint(message_type: type, call: Callable[[object], Awaitable[object]]):
    decoder = msgspec.json.Decoder(message_type)

    async def handle(data: bytes, _headers: Mapping[str, str]) -> bytes:
        return msgspec.json.encode(await call(decoder.decode(data)))

    return handle


async def _lookup(store: LedgerStore, request: wire.LookupRequest) -> wire.UpdateReply:
    found = await store.get(request.payment_id)
    if found is None:
        return wire.UpdateReply(ok=False)
    return wire.UpdateReply(ok=True, revision=found[1], record=found[0])


async def start_ledger(nc: Client, config: LedgerConfig) -> "LedgerRunner":
    # every transition, index entry and usage counter is a JetStream publish: the lean one
    store = LedgerStore(FastJetStream(nc), config)
    await store.open()
    runner = LedgerRunner(nc, store, "x402fac-ledger", VERSION, subjects.LEDGER_QUEUE)
    await runner.usage.start()
    runner.catalog = Catalog(store.js, store.discovery, wire.DISCOVERY_BUCKET)
    await runner.catalog.start()
    await runner.start(_endpoints(store, runner.usage, runner.catalog, config))
    return runner


class LedgerRunner(ServiceRunner):
    """The ledger's endpoints, plus this replica's share of summing usage from the audit stream."""

    def __init__(self, nc: Client, store: LedgerStore, *args) -> None:
        super().__init__(nc, *args)
        self.usage = Usage(nc, store.js)
        self.catalog: Catalog | None = None
        self.store = store

    async def stop(self, grace: float = 10.0) -> None:
        await self.usage.stop()
        if self.catalog is not None:
            await self.catalog.stop()
        await super().stop(grace)
        await self.store.close()


def _endpoints(store: LedgerStore, usage: Usage, catalog: Catalog, config: LedgerConfig) -> dict:
    """Every endpoint of the ledger: name, subject, request type and handler."""
    keys = KeyStore(store.js, store.keys, config)
    whitelist = Whitelist(store.whitelist)
    payment_ids = PaymentIds(store.payment_ids)
    rows = [
        ("claim", subjects.LEDGER_CLAIM, wire.ClaimRequest, store.claim),
        ("submit", subjects.LEDGER_SUBMIT, wire.SubmitRequest, store.submit),
        ("finalize", subjects.LEDGER_FINALIZE, wire.FinalizeRequest, store.finalize),
        ("release", subjects.LEDGER_RELEASE, wire.ReleaseRequest, store.release),
        ("lookup", subjects.LEDGER_LOOKUP, wire.LookupRequest, lambda r: _lookup(store, r)),
        ("pending", subjects.LEDGER_PENDING, wire.PendingRequest, store.list_pending),
        ("detach", subjects.LEDGER_DETACH, wire.DetachRequest, store.detach),
        ("key_create", subjects.LEDGER_KEY_CREATE, wire.KeyCreateRequest, keys.create),
        ("key_issue", subjects.LEDGER_KEY_ISSUE, wire.KeyCreateRequest, keys.issue),
        ("key_check", subjects.LEDGER_KEY_CHECK, wire.KeyCheckRequest, keys.check),
        ("key_get", subjects.LEDGER_KEY_GET, wire.KeyIdRequest, keys.get),
        ("key_list", subjects.LEDGER_KEY_LIST, wire.KeyListRequest, keys.list),
        ("key_revoke", subjects.LEDGER_KEY_REVOKE, wire.KeyIdRequest, keys.revoke),
        ("usage", subjects.LEDGER_USAGE, wire.UsageRequest, usage.usage),
        ("recent", subjects.LEDGER_RECENT, wire.RecentRequest, usage.recent),
        ("whitelist_add", subjects.LEDGER_WHITELIST_ADD, wire.WhitelistRequest, whitelist.add),
        ("whitelist_remove", subjects.LEDGER_WHITELIST_REMOVE, wire.WhitelistRequest, whitelist.remove),
        ("whitelist_get", subjects.LEDGER_WHITELIST_GET, wire.WhitelistRequest, whitelist.get),
        ("whitelist_list", subjects.LEDGER_WHITELIST_LIST, wire.WhitelistRequest, whitelist.list),
        ("discovery_add", wire.SUBJECT_DISCOVERY_ADD, wire.DiscoveryAddRequest, catalog.add),
        ("discovery_list", wire.SUBJECT_DISCOVERY_LIST, wire.DiscoveryListRequest, catalog.list),
        ("discovery_remove", wire.SUBJECT_DISCOVERY_REMOVE, wire.DiscoveryRemoveRequest, catalog.remove),
        ("payment_id_claim", wire.SUBJECT_PAYMENT_ID_CLAIM, wire.PaymentIdClaim, payment_ids.claim),
        ("payment_id_finish", wire.SUBJECT_PAYMENT_ID_FINISH, wire.PaymentIdFinish, payment_ids.finish),
    ]
    return {name: (subject, _endpoint(kind, call)) for name, subject, kind, call in rows}


async def _export_pending(store: LedgerStore, interval: float) -> None:
    """Pending-settlement gauges per family, from the pending index this replica follows (the same
    answer its `pending` endpoint gives, without a round trip through the bus)."""
    while True:
        for family in FAMILIES:
            try:
                reply = await store.list_pending(wire.PendingRequest(family=family, limit=10_000))
            except Exception as exc:  # NATS away: the next pass tries again
                log.warning("pending metrics for %s: %s", family, exc)
                continue
            now = time.time()
            PENDING_SETTLEMENTS.labels(family).set(len(reply.records))
            oldest = min((record.created_at for record in reply.records), default=now)
            PENDING_OLDEST_SECONDS.labels(family).set(max(0.0, now - oldest))
        await asyncio.sleep(interval)


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
    nc = await connect(nats_url, name="x402fac-ledger")
    NATS_CONNECTED.labels("ledger").set_function(lambda: float(nc.is_connected))
    config = LedgerConfig.from_env()
    runner = await start_ledger(nc, config)
    exporter = asyncio.create_task(_export_pending(runner.store, config.pending_metrics_interval))
    freeze_startup()
    log.info("ledger ready")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await cancel_and_wait(exporter)
        await runner.stop()
        await disconnect(nc)
