"""The ledger as a NATS micro service: `x402.ledger.*` request/reply over LedgerStore."""

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from nats.aio.client import Client

from x402fac.bus import BusError, ServiceRunner, connect, request, subjects
from x402fac.protocol import FAMILIES
from x402fac.protocol.ledger import (
    ClaimRequest,
    DetachRequest,
    FinalizeRequest,
    LookupRequest,
    PendingReply,
    PendingRequest,
    ReleaseRequest,
    SubmitRequest,
    UpdateReply,
)
from x402fac.telemetry import NATS_CONNECTED, PENDING_OLDEST_SECONDS, PENDING_SETTLEMENTS

from .config import LedgerConfig
from .store import LedgerStore

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
    runner = ServiceRunner(nc, "x402fac-ledger", VERSION, subjects.LEDGER_QUEUE)
    await runner.start(
        {
            "claim": (subjects.LEDGER_CLAIM, _endpoint(ClaimRequest, store.claim)),
            "submit": (subjects.LEDGER_SUBMIT, _endpoint(SubmitRequest, store.submit)),
            "finalize": (subjects.LEDGER_FINALIZE, _endpoint(FinalizeRequest, store.finalize)),
            "release": (subjects.LEDGER_RELEASE, _endpoint(ReleaseRequest, store.release)),
            "lookup": (subjects.LEDGER_LOOKUP, _endpoint(LookupRequest, lambda r: _lookup(store, r))),
            "pending": (subjects.LEDGER_PENDING, _endpoint(PendingRequest, store.list_pending)),
            "detach": (subjects.LEDGER_DETACH, _endpoint(DetachRequest, store.detach)),
        }
    )
    return runner


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
    runner = await start_ledger(nc, LedgerConfig.from_env())
    interval = float(os.environ.get("X402FAC_PENDING_METRICS_INTERVAL", "15"))
    exporter = asyncio.create_task(_export_pending(nc, interval))
    log.info("ledger ready")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        exporter.cancel()
        await runner.stop()
        await nc.drain()
