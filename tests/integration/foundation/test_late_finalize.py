"""A finalize the worker did not get back in time never takes the payment's one success with it.

The worker stops waiting for the ledger's finalize at the request's deadline and answers
`settlement_pending`; the ledger may write that finalize later, or may have written it and the reply
was lost. Either way the request was answered without the success, so the retry must get it, once.
Here the race is driven deterministically: the worker's finalize is held back in the test (its NATS
request leaves only once the worker has answered) or its reply is dropped; ledger, gateway, worker
pipeline and NATS are the real ones.
"""

import asyncio
import time
import uuid

import httpx

from tests.fixtures.stack import Stack, one_success
from x402fac.bus import BusTimeout, request, subjects
from x402fac.protocol.ledger import FinalizeRequest, UpdateReply
from x402fac.worker import LedgerClient, WorkerService

from .conftest import LedgerBookScheme, payment, payment_id_of


class LateFinalize(LedgerClient):
    """The worker's finalize for a waiting request reaches the ledger only once `release` is set, and
    the worker gets no reply: it waits until its deadline, as for a ledger too slow to answer."""

    def __init__(self, nc) -> None:
        super().__init__(nc)
        self.release = asyncio.Event()
        self.written: asyncio.Future[UpdateReply] | None = None

    async def finalize(self, payment_id, revision, response, requester="", until=0.0, attempt=""):
        if not requester or self.written is not None:  # the reconciler, the retry: on time
            return await super().finalize(payment_id, revision, response, requester, until, attempt)
        message = FinalizeRequest(payment_id, revision, response, requester, attempt)
        self.written = asyncio.ensure_future(self._after_release(message))
        await asyncio.sleep(max(0.0, until - time.time()))
        raise BusTimeout(subjects.LEDGER_FINALIZE)

    async def _after_release(self, message: FinalizeRequest) -> UpdateReply:
        await self.release.wait()
        return await request(self.nc, subjects.LEDGER_FINALIZE, message, UpdateReply, 10.0)


class LostFinalizeReply(LedgerClient):
    """The ledger writes the worker's first finalize at once, but the reply never reaches the worker."""

    def __init__(self, nc) -> None:
        super().__init__(nc)
        self.written: UpdateReply | None = None

    async def finalize(self, payment_id, revision, response, requester="", until=0.0, attempt=""):
        reply = await super().finalize(payment_id, revision, response, requester, until, attempt)
        if not requester or self.written is not None:
            return reply
        self.written = reply
        raise BusTimeout(subjects.LEDGER_FINALIZE)


async def _worker_with(stack: Stack, client_type: type[LedgerClient]) -> tuple[WorkerService, object]:
    scheme = LedgerBookScheme()
    worker = await stack.start_worker("evm", [scheme], reconcile_interval=3600)
    worker.pipeline.ledger = client_type(worker.nc)
    return worker, scheme


async def _settle(http: httpx.AsyncClient, url: str, body: dict) -> dict:
    answer = await http.post(url + "/settle", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_finalize_written_after_the_answer_delivers_to_nobody_and_the_retry_gets_the_success(
    own_stack,
):
    stack = own_stack
    worker, scheme = await _worker_with(stack, LateFinalize)
    ledger: LateFinalize = worker.pipeline.ledger
    gateway = await stack.add_gateway(settle_timeout=3)
    body = payment(uuid.uuid4().hex)
    payment_id = payment_id_of(body)
    async with httpx.AsyncClient(timeout=30) as http:
        first = await _settle(http, gateway.url, body)
        assert first["errorReason"] == "settlement_pending", first
        assert first["transaction"] == f"tx-{payment_id}"
        before = await stack.ledger_record(payment_id)
        assert before is not None and before.attached == "" and before.delivered_to == ""
        ledger.release.set()  # the finalize reaches the ledger now, after the answer
        written = await ledger.written
        assert written.ok and not written.delivered
        assert written.record is not None and written.record.state == "settled"
        assert written.record.delivered_at == 0 and written.record.delivered_to == ""
        retried = await _settle(http, gateway.url, body)
        again = await _settle(http, stack.gateway_url, body)
    one_success(retried, [again], f"tx-{payment_id}")
    assert scheme.broadcasts[f"tx-{payment_id}"] == 1
    record = await stack.ledger_record(payment_id)
    assert record is not None and record.delivered_at > 0 and record.delivered_to != ""


async def test_a_finalize_whose_reply_was_lost_is_undone_and_the_retry_gets_the_success(own_stack):
    stack = own_stack
    worker, scheme = await _worker_with(stack, LostFinalizeReply)
    ledger: LostFinalizeReply = worker.pipeline.ledger
    gateway = await stack.add_gateway(settle_timeout=3)
    body = payment(uuid.uuid4().hex)
    payment_id = payment_id_of(body)
    async with httpx.AsyncClient(timeout=30) as http:
        first = await _settle(http, gateway.url, body)
        # The ledger had handed the success to this request; the worker never learnt it.
        assert ledger.written is not None and ledger.written.delivered
        assert first["errorReason"] == "settlement_pending", first
        undone = await stack.ledger_record(payment_id)
        assert undone is not None and undone.state == "settled"
        assert undone.delivered_at == 0 and undone.delivered_to == "" and undone.attached == ""
        retried = await _settle(http, gateway.url, body)
        again = await _settle(http, gateway.url, body)
    one_success(retried, [again], f"tx-{payment_id}")
    assert scheme.broadcasts[f"tx-{payment_id}"] == 1


async def test_a_stranger_cannot_let_go_of_a_delivered_success(own_stack):
    """Letting go takes the requester and the attempt that hold the record: a copy naming the same
    request (a stranger who read its id) but not its attempt changes nothing, so no second success."""
    stack = own_stack
    _, scheme = await _worker_with(stack, LedgerClient)
    body = payment(uuid.uuid4().hex)
    payment_id = payment_id_of(body)
    async with httpx.AsyncClient(timeout=30) as http:
        first = await _settle(http, stack.gateway_url, body)
        assert first["success"] is True
        record = await stack.ledger_record(payment_id)
        assert record is not None and record.delivered_to and record.attempt
        client = LedgerClient(stack.nc)
        for attempt in ("", "someone-else", record.delivered_to):
            assert await client.detach(payment_id, record.delivered_to, attempt)  # holds nothing
        assert await client.detach(payment_id, "", "")
        kept = await stack.ledger_record(payment_id)
        assert kept is not None and kept.delivered_to == record.delivered_to and kept.delivered_at > 0
        copy = await _settle(http, stack.gateway_url, body)
    assert copy["errorReason"] == "duplicate_settlement"
    assert scheme.broadcasts[f"tx-{payment_id}"] == 1
