"""A transaction id whose recording went unanswered is still sent, once.

The ledger stores the transaction id, then its answer is lost: a ledger stopping after the write (no
reply), or a JetStream write acknowledged after the ledger gave up on it (an error reply although the
write landed). Before, the worker gave the request up: its redelivery found a record naming a
transaction that was never broadcast, answered `settlement_pending`, and once the owner's window had
passed, the chain's "not there" became a failure (`process_failed` on Nano) — a payment lost to a
rolling restart (tests/cluster).
"""

import asyncio
import uuid

import httpx
import msgspec
import nats.errors
import pytest

from tests.fixtures.stack import Stack
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.service import start_ledger
from x402fac.ledger.store import LedgerStore
from x402fac.worker.ledger_client import LedgerClient

from .conftest import LedgerBookScheme, payment, payment_id_of

NO_REPLY_SECONDS = LedgerClient(None).timeout + 1  # longer than the worker waits for the ledger


@pytest.mark.parametrize("lost", ["no_reply", "error_reply"])
@pytest.mark.parametrize("recorded_by", ["claim", "submit"])
async def test_transaction_recorded_without_an_answer_is_broadcast_once_and_succeeds(
    monkeypatch, lost, recorded_by
):
    """`claim`: a new payment's claim carries its transaction. `submit`: the claim creates the record
    without it (as a ledger that does not take it with the claim does), and the submit records it."""
    real_claim, real_submit = LedgerStore.claim, LedgerStore.submit
    unanswered: list[str] = []

    async def lose_the_answer(request, reply):
        if not unanswered:  # the first write of the transaction only: stored, its caller never learns it
            unanswered.append(request.payment_id)
            if lost == "no_reply":
                await asyncio.sleep(NO_REPLY_SECONDS)
            else:
                raise nats.errors.TimeoutError  # the JetStream write was slow to acknowledge, not lost
        return reply

    async def claim(self, request):
        if recorded_by == "submit":
            request = msgspec.structs.replace(request, transaction="", hint="")
        reply = await real_claim(self, request)
        return await lose_the_answer(request, reply) if request.transaction else reply

    async def submit(self, request):
        return await lose_the_answer(request, await real_submit(self, request))

    monkeypatch.setattr(LedgerStore, "claim", claim)
    monkeypatch.setattr(LedgerStore, "submit", submit)
    stack = await Stack.start(ledger=False)
    try:
        stack.ledger = await start_ledger(stack.nc, LedgerConfig(payer_settle_limit=1_000_000))
        scheme = LedgerBookScheme()
        await stack.start_worker("evm", [scheme], reconcile_interval=3600)
        gateway = await stack.add_gateway(settle_timeout=20)
        body = payment(uuid.uuid4().hex)
        payment_id = payment_id_of(body)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(gateway.url + "/settle", json=body)
        assert unanswered == [payment_id]
        assert answer.status_code == 200, answer.text
        assert answer.json()["success"] is True, answer.text
        assert scheme.broadcasts == {f"tx-{payment_id}": 1}
        record = await stack.ledger_record(payment_id)
        assert record is not None and record.state == "settled" and record.delivered_at > 0
    finally:
        await stack.close()
