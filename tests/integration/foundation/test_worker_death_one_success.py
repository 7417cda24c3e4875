"""A worker killed around the moment a payment's success is handed to its request: the success is
neither lost (handed to a request that never got it) nor given twice (taken back from a request that
did get it). The work item comes again to another replica, which learns from the ledger whether the
request holds the success and from the gateway whether it took a success for that request."""

import asyncio
import uuid

import httpx

from tests.fixtures.polling import until
from tests.fixtures.replicas import kill, start_replica, stop_replica
from tests.fixtures.stack import Stack
from x402fac.protocol.ledger import SettlementRecord
from x402fac.worker import LedgerClient

from .conftest import LedgerBookScheme, payment, payment_id_of


class FreezeAfterFinalize(LedgerClient):
    """The ledger writes the finalize (handing the success over), then this process stops for good
    before it learns so: the reply never comes back to the pipeline."""

    def __init__(self, nc) -> None:
        super().__init__(nc)
        self.written = asyncio.Event()

    async def finalize(self, payment_id, revision, response, requester="", until=0.0, attempt=""):
        reply = await super().finalize(payment_id, revision, response, requester, until, attempt)
        assert reply.delivered
        self.written.set()
        await asyncio.Event().wait()  # killed here


def _one_chain(first: LedgerBookScheme) -> LedgerBookScheme:
    second = LedgerBookScheme()
    second.broadcasts, second.broadcast_at = first.broadcasts, first.broadcast_at
    return second


async def _record_until(stack: Stack, payment_id: str, holds) -> SettlementRecord:
    async def found() -> SettlementRecord | None:
        record = await stack.ledger_record(payment_id)
        return record if record is not None and holds(record) else None

    return await until(found, what=f"the record of {payment_id} as expected")


async def test_a_success_handed_to_a_request_whose_worker_died_goes_to_the_retry():
    """The ledger handed the success to the request, its worker died before answering, and the gateway
    answered worker_timeout at its deadline. The replica that takes the work item again (after the
    deadline) offers the success, finds nobody took it, and lets it go: the retry gets it."""
    stack = await Stack.start()
    first = LedgerBookScheme()
    doomed = await start_replica(stack, "evm", [first], ack_wait=2.0)
    frozen = FreezeAfterFinalize(doomed.nc)
    doomed.pipeline.ledger = frozen
    survivor = None
    try:
        gateway = await stack.add_gateway(settle_timeout=1.0)
        await asyncio.sleep(0.6)  # the gateway sees the evm family live
        body = payment(uuid.uuid4().hex)
        payment_id = payment_id_of(body)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = asyncio.ensure_future(http.post(gateway.url + "/settle", json=body))
            await asyncio.wait_for(frozen.written.wait(), 10)
            await kill(doomed)
            survivor = await start_replica(stack, "evm", [_one_chain(first)])
            first_answer = await answer
            assert first_answer.status_code == 503 and first_answer.json()["error"] == "worker_timeout"
            handed = await stack.ledger_record(payment_id)
            assert handed is not None and handed.delivered_to  # the success sits with the dead request
            # Redelivered after the doomed worker's ack wait, past the deadline: let go, nobody asked.
            await _record_until(stack, payment_id, lambda r: r.state == "settled" and not r.delivered_to)
            retried = (await http.post(gateway.url + "/settle", json=body)).json()
            again = (await http.post(stack.gateway_url + "/settle", json=body)).json()
        assert retried["success"] is True and retried["transaction"] == f"tx-{payment_id}", retried
        assert again["errorReason"] == "duplicate_settlement"
        assert first.broadcasts[f"tx-{payment_id}"] == 1
    finally:
        await stop_replica(survivor)
        await stack.close()


async def test_a_success_taken_before_its_worker_died_is_not_given_again():
    """The worker answered the success, the gateway took it, and the worker died before acknowledging
    the work item. The replica that takes the item again offers the success once more; the gateway
    says it took a success for that request already, so it stays with it: a copy is a duplicate."""
    stack = await Stack.start()
    first = LedgerBookScheme()
    doomed = await start_replica(stack, "evm", [first], ack_wait=1.0)
    answered = asyncio.Event()
    real_answer = doomed._answer

    async def answer_then_die(requester, reply_to, response):
        await real_answer(requester, reply_to, response)
        answered.set()
        await asyncio.Event().wait()  # killed here, before the work item is acknowledged

    doomed._answer = answer_then_die
    survivor = None
    try:
        await asyncio.sleep(0.6)
        body = payment(uuid.uuid4().hex)
        payment_id = payment_id_of(body)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            settled = await http.post("/settle", json=body)
            assert settled.json()["success"] is True, settled.text
            await asyncio.wait_for(answered.wait(), 10)
            carried = await stack.ledger_record(payment_id)
            await kill(doomed)
            survivor = await start_replica(stack, "evm", [_one_chain(first)])
            # The item comes again; the survivor carries the success (a new attempt) and keeps it there.
            resumed = await _record_until(stack, payment_id, lambda r: r.attempt != carried.attempt)
            # It offered the success to the gateway and acknowledged the item.
            await until(lambda: survivor.settle_work.inflight == 0, what="the survivor done with the item")
            kept = await stack.ledger_record(payment_id)
            copy = (await http.post("/settle", json=body)).json()
        assert resumed.delivered_to == carried.delivered_to != ""
        assert kept.delivered_to == carried.delivered_to and kept.delivered_at == carried.delivered_at
        assert copy["success"] is False and copy["errorReason"] == "duplicate_settlement", copy
        assert first.broadcasts[f"tx-{payment_id}"] == 1
    finally:
        await stop_replica(survivor)
        await stack.close()
