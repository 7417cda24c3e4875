"""A replica that cannot settle now hands the request to another one (docs/design.md, 7): its
scheme's `prepare` raises `HandOff`, the pipeline releases the claim, and the work consumer returns
the item to the queue. The caller gets its one success from the other replica, with one broadcast,
and the payment counts once against the payer's limit however often it was claimed."""

import asyncio
import uuid

import httpx

from tests.fixtures.stack import Stack
from x402fac.bus import connect
from x402fac.worker import HandOff, WorkerService

from .conftest import LedgerBookScheme, payment, payment_id_of


class NoSignerScheme(LedgerBookScheme):
    """Holds no signer key at the moment: every `prepare` hands the request off."""

    def __init__(self) -> None:
        super().__init__()
        self.handed_off = 0

    async def prepare(self, request, identity, checked=None):
        self.handed_off += 1
        raise HandOff("no signer key here now")


async def _replica(stack: Stack, scheme: LedgerBookScheme) -> WorkerService:
    nc = await connect(stack.nats_url, name="test-replica", credentials=stack.nats.credentials("worker-evm"))
    service = WorkerService(nc, "evm", [scheme], settle_ack_wait=5.0)
    await service.start(reconcile_interval=3600)
    return service


async def test_a_replica_without_a_signer_hands_the_settle_to_one_with_a_signer():
    stack = await Stack.start(payer_limit=1)
    refusing, able = NoSignerScheme(), LedgerBookScheme()
    first = await _replica(stack, refusing)
    second = None
    try:
        await asyncio.sleep(0.6)  # the gateway sees the evm family live
        body = payment(uuid.uuid4().hex)
        payment_id = payment_id_of(body)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            answer = asyncio.ensure_future(http.post("/settle", json=body))
            for _ in range(200):  # only the refusing replica is there: it claims and hands off
                if refusing.handed_off >= 2:
                    break
                await asyncio.sleep(0.02)
            assert refusing.handed_off >= 2  # handed back, taken again: the item stays in the queue
            assert await stack.ledger_record(payment_id) is None  # each hand-off released its claim
            second = await _replica(stack, able)
            result = (await answer).json()
        assert result["success"] is True and result["transaction"] == f"tx-{payment_id}"
        assert able.broadcasts[f"tx-{payment_id}"] == 1 and not refusing.broadcasts
        record = await stack.ledger_record(payment_id)
        assert record is not None and record.state == "settled" and record.delivered_at > 0
        # Claimed and released many times, it still counts once against the payer's limit of one.
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            again = (await http.post("/settle", json=body)).json()
        assert again["errorReason"] == "duplicate_settlement"
    finally:
        for service in (first, second):
            if service is not None:
                await service.stop()
                await service.nc.drain()
        await stack.close()
