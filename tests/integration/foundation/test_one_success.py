"""One payment, one success, at the pipeline level: forgeries leave no state, answers after a broadcast
never claim nothing was sent, and a request that stopped waiting leaves the success to its retry."""

import asyncio
import contextlib
import uuid

import httpx

from tests.fixtures.polling import until
from tests.fixtures.stack import Stack, one_success
from x402fac.bus import Unavailable, subjects
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.service import start_ledger

from .conftest import LedgerBookScheme, payment, payment_id_of


class LedgerOutageScheme(LedgerBookScheme):
    """The ledger goes away right after the transaction is broadcast."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack

    async def broadcast(self, prepared) -> None:
        await super().broadcast(prepared)
        if prepared.attempt.get("ledger_outage"):
            await self.stack.ledger.stop()


class StallingScheme(LedgerBookScheme):
    """prepare takes `stall` seconds the first time (a worker stuck on a slow node)."""

    async def prepare(self, request, identity, checked=None):
        stall = identity.payment.get("stall", 0)
        if stall and self.arrivals[identity.payment["id"]] == 1:
            await asyncio.sleep(stall)
        return await super().prepare(request, identity)


async def test_forged_payments_create_no_claim_and_spend_no_quota(book_stack):
    stack, _ = book_stack
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        forged_ids = [uuid.uuid4().hex for _ in range(12)]
        answers = [
            (await http.post("/settle", json=payment(i, payer=victim, forged=True))).json()
            for i in forged_ids
        ]
        assert all(a["errorReason"] == "invalid_signature" for a in answers)
        for forged_id in forged_ids:
            assert await stack.ledger_record(f"test/{forged_id}") is None
        assert await stack.payer_settles(victim) == 0
        own = (await http.post("/settle", json=payment(uuid.uuid4().hex, payer=victim))).json()
    assert own["success"] is True
    assert await stack.payer_settles(victim) == 1


async def test_copies_of_a_settled_payment_cost_no_chain_read(book_stack):
    """A stranger replaying one paid payment many times: each copy is refused by the ledger claim
    alone (the checks that run beside a claim are skipped for a payment the worker saw lately)."""
    stack, scheme = book_stack
    payment_id = uuid.uuid4().hex
    body = payment(payment_id, payer=f"replayer-{payment_id[:8]}")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (await http.post("/settle", json=body)).json()
        copies = await asyncio.gather(*(http.post("/settle", json=body) for _ in range(10)))
    assert first["success"] is True
    assert {c.json()["errorReason"] for c in copies} == {"duplicate_settlement"}
    assert scheme.chain_reads[payment_id] == 1
    assert scheme.broadcasts[f"tx-test/{payment_id}"] == 1


async def test_ledger_unreachable_after_broadcast_answers_pending_then_final(own_stack):
    stack = own_stack
    scheme = LedgerOutageScheme(stack)
    worker = await stack.start_worker("evm", [scheme], reconcile_interval=3600)
    gateway = await stack.add_gateway(settle_timeout=10)
    body = payment(uuid.uuid4().hex, ledger_outage=True)
    payment_id = payment_id_of(body)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        first = await http.post("/settle", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["errorReason"] == "settlement_pending", first.text
        assert first.json()["transaction"] == f"tx-{payment_id}"
        stack.ledger = await start_ledger(stack.nc, LedgerConfig(payer_settle_limit=1_000_000))

        async def reconciled():
            # A pass that finds no ledger is tried again later, as WorkerService's loop does.
            with contextlib.suppress(Unavailable):
                await worker.pipeline.reconcile_once(older_than_seconds=0)
            record = await stack.ledger_record(payment_id)
            return record if record is not None and record.state == "settled" else None

        record = await until(reconciled, what="the record concluded from the chain by the reconciler")
        assert record.delivered_at == 0

        async def the_success():
            answer = (await http.post("/settle", json=body)).json()
            assert answer["success"] or answer["errorReason"] == "duplicate_settlement", answer
            return answer if answer["success"] else None

        # The retry gets the one success once the old request is detached.
        retried = await until(the_success, interval=0.2, what="the retry's success")
        third = (await http.post("/settle", json=body)).json()
    one_success(retried, [third], f"tx-{payment_id}")
    assert scheme.broadcasts[f"tx-{payment_id}"] == 1


async def test_worker_timeout_is_not_pending_and_the_retry_settles_once(own_stack):
    stack = own_stack
    scheme = StallingScheme()
    await stack.start_worker("evm", [scheme])
    gateway = await stack.add_gateway(settle_timeout=1.5)
    body = payment(uuid.uuid4().hex, stall=3)
    tx = f"tx-test/{body['paymentPayload']['payload']['id']}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = await http.post(gateway.url + "/settle", json=body)
        # no transaction is known to the gateway, so it does not claim one is pending
        assert first.status_code == 503
        assert first.json()["error"] == "worker_timeout"
        assert "retry" in first.json()["message"]
        await asyncio.sleep(2.5)  # the stalled attempt finishes and finds it was detached
        retried = (await http.post("/settle", json=body)).json()
        again = (await http.post("/settle", json=body)).json()
    one_success(retried, [again], tx)
    assert scheme.broadcasts[tx] == 1


async def test_a_payment_claimed_again_counts_once_against_its_payer(book_stack):
    """The payer limit (3 in this stack) counts payments, not claims: a payment whose claim was
    released and made again (here: refused after authentication, retried five times) counts once."""
    stack, _ = book_stack
    payer = f"ivy-{uuid.uuid4().hex[:8]}"
    refused = payment(uuid.uuid4().hex, payer=payer, valid=False)
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        answers = [(await http.post("/settle", json=refused)).json() for _ in range(5)]
        assert all(a["errorReason"] == "invalid_signature" for a in answers)
        assert await stack.payer_settles(payer) == 1
        settled = [
            (await http.post("/settle", json=payment(uuid.uuid4().hex, payer=payer))).json() for _ in range(3)
        ]
    assert [s["success"] for s in settled] == [True, True, False]
    assert settled[2]["errorReason"] == "rate_limited"


async def test_a_hang_up_while_queued_leaves_the_payment_to_the_retry(own_stack):
    """The caller hangs up while its settle waits in the work queue (no replica holds it, so none
    detaches it): the replica that takes it later leaves it be, and the caller's retry, sent while
    that stale item is in hand, gets the payment's one success, not duplicate_settlement."""
    stack = own_stack
    scheme = StallingScheme()
    worker = await stack.start_worker("evm", [scheme])
    await worker.settle_work.stop(grace=0)  # settles queue up, nobody takes them
    gateway = await stack.add_gateway(settle_timeout=20)
    body = payment(uuid.uuid4().hex, stall=3)
    tx = f"tx-test/{body['paymentPayload']['payload']['id']}"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        try:
            await http.post("/settle", json=body, timeout=0.5)
        except httpx.TimeoutException:
            pass  # hung up
        await until(lambda: len(worker.detached) == 1, what="the gateway told every replica")
        await worker.settle_work.start()
        consumer, js = subjects.settle_group("evm"), worker.nc.jetstream()

        async def in_hand() -> bool:
            return not (await js.consumer_info(subjects.WORK_STREAM, consumer)).num_pending

        await until(in_hand, what="the stale item in the worker's hands")
        retried = (await http.post("/settle", json=body)).json()
        again = (await http.post("/settle", json=body)).json()
    one_success(retried, [again], tx)
    assert scheme.broadcasts[tx] == 1
