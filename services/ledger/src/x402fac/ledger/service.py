"""The ledger as a NATS micro service: `x402.ledger.*` request/reply over LedgerStore."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from nats.aio.client import Client

from x402fac.bus import BusError, ServiceRunner, cancel_and_wait, connect, disconnect, request, subjects
from x402fac.protocol import FAMILIES
from x402fac.protocol.ledger import (
    DISCOVERY_BUCKET,
    SUBJECT_DISCOVERY_ADD,
    SUBJECT_DISCOVERY_LIST,
    SUBJECT_DISCOVERY_REMOVE,
    SUBJECT_PAYMENT_ID_CLAIM,
    SUBJECT_PAYMENT_ID_FINISH,
    ClaimRequest,
    DetachRequest,
    DiscoveryAddRequest,
    DiscoveryListRequest,
    DiscoveryRemoveRequest,
    FinalizeRequest,
    KeyCheckRequest,
    KeyCreateRequest,
    KeyIdRequest,
    KeyListRequest,
    LookupRequest,
    PaymentIdClaim,
    PaymentIdFinish,
    PendingReply,
    PendingRequest,
    RecentRequest,
    ReleaseRequest,
    SubmitRequest,
    UpdateReply,
    UsageRequest,
    WhitelistRequest,
)
from x402fac.telemetry import NATS_CONNECTED, PENDING_OLDEST_SECONDS, PENDING_SETTLEMENTS

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


async def _lookup(store: LedgerStore, request: LookupRequest) -> UpdateReply:
    found = await store.get(request.payment_id)
    if found is None:
        return UpdateReply(ok=False)
    return UpdateReply(ok=True, revision=found[1], record=found[0])


async def start_ledger(nc: Client, config: LedgerConfig) -> ServiceRunner:
    store = LedgerStore(nc.jetstream(), config)
    await store.open()
    runner = LedgerRunner(nc, "x402fac-ledger", VERSION, subjects.LEDGER_QUEUE)
    runner.store = store
    await runner.usage.start()
    runner.catalog = Catalog(store.js, store.discovery, DISCOVERY_BUCKET)
    await runner.catalog.start()
    await runner.start(
        {
            "claim": (subjects.LEDGER_CLAIM, _endpoint(ClaimRequest, store.claim)),
            "submit": (subjects.LEDGER_SUBMIT, _endpoint(SubmitRequest, store.submit)),
            "finalize": (subjects.LEDGER_FINALIZE, _endpoint(FinalizeRequest, store.finalize)),
            "release": (subjects.LEDGER_RELEASE, _endpoint(ReleaseRequest, store.release)),
            "lookup": (subjects.LEDGER_LOOKUP, _endpoint(LookupRequest, lambda r: _lookup(store, r))),
            "pending": (subjects.LEDGER_PENDING, _endpoint(PendingRequest, store.list_pending)),
            "detach": (subjects.LEDGER_DETACH, _endpoint(DetachRequest, store.detach)),
            **_product_endpoints(store, runner.usage, config),
            **_catalog_endpoints(runner.catalog, PaymentIds(store.payment_ids)),
        }
    )
    return runner


class LedgerRunner(ServiceRunner):
    """The ledger's endpoints, plus this replica's share of summing usage from the audit stream."""

    def __init__(self, nc: Client, *args) -> None:
        super().__init__(nc, *args)
        self.usage = Usage(nc)
        self.catalog: Catalog | None = None
        self.store: LedgerStore | None = None

    async def stop(self, grace: float = 10.0) -> None:
        await self.usage.stop()
        if self.catalog is not None:
            await self.catalog.stop()
        await super().stop(grace)
        if self.store is not None:
            await self.store.close()


def _product_endpoints(store: LedgerStore, usage: Usage, config: LedgerConfig) -> dict:
    """API keys, usage and the whitelist."""
    keys = KeyStore(store.js, store.keys, config)
    whitelist = Whitelist(store.whitelist)
    return {
        "key_create": (subjects.LEDGER_KEY_CREATE, _endpoint(KeyCreateRequest, keys.create)),
        "key_issue": (subjects.LEDGER_KEY_ISSUE, _endpoint(KeyCreateRequest, keys.issue)),
        "key_check": (subjects.LEDGER_KEY_CHECK, _endpoint(KeyCheckRequest, keys.check)),
        "key_get": (subjects.LEDGER_KEY_GET, _endpoint(KeyIdRequest, keys.get)),
        "key_list": (subjects.LEDGER_KEY_LIST, _endpoint(KeyListRequest, keys.list)),
        "key_revoke": (subjects.LEDGER_KEY_REVOKE, _endpoint(KeyIdRequest, keys.revoke)),
        "usage": (subjects.LEDGER_USAGE, _endpoint(UsageRequest, usage.usage)),
        "recent": (subjects.LEDGER_RECENT, _endpoint(RecentRequest, usage.recent)),
        "whitelist_add": (subjects.LEDGER_WHITELIST_ADD, _endpoint(WhitelistRequest, whitelist.add)),
        "whitelist_remove": (subjects.LEDGER_WHITELIST_REMOVE, _endpoint(WhitelistRequest, whitelist.remove)),
        "whitelist_get": (subjects.LEDGER_WHITELIST_GET, _endpoint(WhitelistRequest, whitelist.get)),
        "whitelist_list": (subjects.LEDGER_WHITELIST_LIST, _endpoint(WhitelistRequest, whitelist.list)),
    }


def _catalog_endpoints(catalog: Catalog, payment_ids: PaymentIds) -> dict:
    """The discovery catalog and payment identifiers."""
    return {
        "discovery_add": (SUBJECT_DISCOVERY_ADD, _endpoint(DiscoveryAddRequest, catalog.add)),
        "discovery_list": (SUBJECT_DISCOVERY_LIST, _endpoint(DiscoveryListRequest, catalog.list)),
        "discovery_remove": (SUBJECT_DISCOVERY_REMOVE, _endpoint(DiscoveryRemoveRequest, catalog.remove)),
        "payment_id_claim": (SUBJECT_PAYMENT_ID_CLAIM, _endpoint(PaymentIdClaim, payment_ids.claim)),
        "payment_id_finish": (SUBJECT_PAYMENT_ID_FINISH, _endpoint(PaymentIdFinish, payment_ids.finish)),
    }


async def _export_pending(nc: Client, interval: float) -> None:
    """Pending-settlement gauges per family, read through the ledger's own `pending` endpoint."""
    while True:
        for family in FAMILIES:
            try:
                reply = await request(
                    nc,
                    subjects.LEDGER_PENDING,
                    PendingRequest(family=family, limit=10_000),
                    PendingReply,
                    10.0,
                )
            except BusError as exc:
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
    exporter = asyncio.create_task(_export_pending(nc, config.pending_metrics_interval))
    log.info("ledger ready")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await cancel_and_wait(exporter)
        await runner.stop()
        await disconnect(nc)
