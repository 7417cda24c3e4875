"""A settle outlives the worker that took it: another replica gets the request again from the work
queue, resumes the payment from the ledger and answers the same caller, with one broadcast."""

import asyncio
import json
import time
import uuid

import httpx

from tests.fixtures.polling import until
from tests.fixtures.replicas import kill, start_replica, stop_replica
from tests.fixtures.stack import Stack
from x402fac.bus import REPLY_HEADER, connect, subjects

from .conftest import LedgerBookScheme, payment, payment_id_of


async def test_settle_finished_by_another_replica_after_a_kill():
    stack = await Stack.start()
    first, second = LedgerBookScheme(), LedgerBookScheme()
    second.broadcasts, second.broadcast_at = first.broadcasts, first.broadcast_at  # one chain
    doomed = await start_replica(stack, "evm", [first])
    survivor = None
    try:
        await asyncio.sleep(0.6)  # the gateway sees the evm family live
        body = payment(uuid.uuid4().hex, confirm_after=3)
        tx = f"tx-test/{body['paymentPayload']['payload']['id']}"
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            started = time.monotonic()
            answer = asyncio.ensure_future(http.post("/settle", json=body))
            await until(lambda: first.broadcasts[tx], what="the doomed replica's broadcast")
            assert first.broadcasts[tx] == 1  # it now waits for confirmation
            survivor = await start_replica(stack, "evm", [second])
            await kill(doomed)
            result = (await answer).json()
            elapsed = time.monotonic() - started
        assert result["success"] is True and result["transaction"] == tx
        assert elapsed < 10  # the caller got its final answer, not a timeout
        assert first.broadcasts[tx] == 1  # resumed from the ledger, never broadcast again
        record = await stack.ledger_record(payment_id_of(body))
        assert record is not None and record.state == "settled" and record.delivered_at > 0
    finally:
        await stop_replica(survivor)
        await stack.close()


async def test_a_success_whose_gateway_died_is_kept_for_the_retry():
    """The worker hands the success to a request whose gateway is gone: nobody takes the answer, so
    the ledger gets the success back and the resource server's retry receives it."""
    stack = await Stack.start()
    scheme = LedgerBookScheme()
    await stack.start_worker("evm", [scheme])
    try:
        body = payment(uuid.uuid4().hex)
        payment_id = payment_id_of(body)
        headers = {
            subjects.REQUEST_ID_HEADER: "request-of-a-dead-gateway",
            subjects.DEADLINE_HEADER: f"{time.time() + 30:.3f}",
            REPLY_HEADER: "_X402R.evm.gone.request-of-a-dead-gateway",  # nobody listens there any more
        }
        gateway = await connect(
            stack.nats_url, name="test-gateway", credentials=stack.nats.credentials("gateway")
        )
        await gateway.jetstream().publish(subjects.settle("evm"), json.dumps(body).encode(), headers=headers)
        await gateway.close()
        record = None
        for _ in range(200):
            record = await stack.ledger_record(payment_id)
            if record is not None and record.state == "settled" and not record.delivered_to:
                break
            await asyncio.sleep(0.05)
        assert record is not None and record.state == "settled"
        assert (record.delivered_at, record.delivered_to, record.attached) == (0.0, "", "")
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            await asyncio.sleep(0.6)  # the gateway sees the evm family live
            retried = (await http.post("/settle", json=body)).json()
            again = (await http.post("/settle", json=body)).json()
        assert retried["success"] is True and retried["transaction"] == f"tx-{payment_id}"
        assert again["errorReason"] == "duplicate_settlement"
        assert scheme.broadcasts[f"tx-{payment_id}"] == 1
    finally:
        await stack.close()
