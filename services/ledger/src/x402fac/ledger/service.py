"""The ledger as a NATS micro service: `x402.ledger.*` request/reply over LedgerStore."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from nats.aio.client import Client

from x402fac.bus import ServiceRunner, connect, subjects
from x402fac.protocol.ledger import (
    ClaimRequest,
    FinalizeRequest,
    LookupRequest,
    PendingRequest,
    ReleaseRequest,
    SubmitRequest,
    UpdateReply,
)

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
        }
    )
    return runner


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
    nc = await connect(nats_url, name="x402fac-ledger")
    runner = await start_ledger(nc, LedgerConfig.from_env())
    log.info("ledger ready")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.stop()
        await nc.drain()
