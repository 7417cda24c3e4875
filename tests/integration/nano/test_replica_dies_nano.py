"""A Nano worker replica dies on the claim-with-transaction path (docs/design.md, 2.3: Nano's prepare
reserves nothing, so the claim records the payer's block and the record is created `submitted`), and
another replica or the reconciler finishes the payment: the payee is paid once, one request is
answered success:true, every other answer is duplicate_settlement naming the block.

- dead after the claim recorded the block, before it was sent: the replica that takes the work item
  again finds the block unknown to the node but within the owner's window, so it answers
  settlement_pending and sends nothing (only the record's owner sends, 2.3); the reconciler then
  releases the record (dropped), and the caller's retry settles it;
- dead after the block was sent, before its finalize: the replica that takes the work item again
  resolves the block from the node and answers the waiting caller success:true, sending nothing;
- the same, but the caller gave up first: the reconciler stores the success, the retry takes it.
"""

import time

import httpx
import pytest

from tests.fixtures.nano import (
    XNO,
    NanoAccount,
    nano_payment,
    nano_received,
)
from tests.fixtures.polling import until
from tests.fixtures.replicas import Replicas, work_taken_again
from tests.fixtures.stack import one_success
from x402fac.bus import encode_key
from x402fac.nano import parse_threshold
from x402fac.protocol import Reason
from x402fac.protocol.ledger import RecordState
from x402fac.worker_nano.config import NanoNetworkConfig
from x402fac.worker_nano.exact import ExactNanoScheme

PRICE = 10**27
NETWORK = "nano:devnet"


def _scheme(nano_devnet) -> ExactNanoScheme:
    threshold = parse_threshold(nano_devnet.info["workThresholds"]["send"])
    return ExactNanoScheme([NanoNetworkConfig(NETWORK, (nano_devnet.rpc_url,), threshold)], confirm_poll=0.02)


@pytest.fixture
async def replicas(own_stack, nano_devnet):
    """Replicas on a stack of their own: no other Nano worker takes the work items they hand over."""
    made = Replicas(own_stack, "nano", lambda: _scheme(nano_devnet))
    yield made
    await made.close()


async def _payment(nano_rpc, nano_devnet, nano_funded_account) -> tuple[str, NanoAccount, dict]:
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    # The take-over waits at most maxTimeoutSeconds for the node before answering settlement_pending.
    block, body = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE, max_timeout=2)
    return block.hash.hex().upper(), pay_to, body


async def _paid_once(replicas, nano_devnet, nano_rpc, block_hash: str, pay_to: NanoAccount) -> None:
    """The block was sent once, the payee holds the price, the record is settled and handed out."""
    assert nano_devnet.devnet.process_requests[block_hash] == 1
    assert await nano_received(nano_rpc, pay_to) == PRICE
    settled = await replicas.stack.ledger_record(block_hash)
    assert settled.state is RecordState.SETTLED and settled.delivered_at


async def test_dead_after_the_claim_recorded_the_block_before_sending_it(
    replicas, nano_devnet, nano_rpc, nano_funded_account
):
    stack, node = replicas.stack, nano_devnet.devnet
    block_hash, pay_to, body = await _payment(nano_rpc, nano_devnet, nano_funded_account)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        answer = await replicas.settle_and_die("broadcast", http, stack.gateway_url, NETWORK, body)
        record = await stack.ledger_record(block_hash)
        # The claim itself recorded the block (no separate submit); nothing was sent.
        assert record is not None and record.state is RecordState.SUBMITTED, record
        assert record.transaction == block_hash and replicas.submits == 0
        assert node.process_requests[block_hash] == 0
        await replicas.replace()

        first = (await answer).json()
        # The survivor took the work item again: the block is unknown to the node, but its owner may
        # still be sending it (the owner's window), so nothing is judged, and nothing is sent.
        assert first["success"] is False and first["errorReason"] == Reason.SETTLEMENT_PENDING, first
        assert first["transaction"] == block_hash
        early = (await http.post("/settle", json=body)).json()
        assert early["errorReason"] == Reason.SETTLEMENT_PENDING and early["transaction"] == block_hash, early
        assert node.process_requests[block_hash] == 0
        assert (await stack.ledger_record(block_hash)).state is RecordState.SUBMITTED

        # Once the window has passed (not waited out here), the reconciler finds the block was never
        # sent and releases the record: the payer's block is still good, and the retry settles it.
        assert await replicas.survivor.pipeline.reconcile_once(older_than_seconds=0) == 1
        assert await stack.ledger_record(block_hash) is None
        retried = (await http.post("/settle", json=body)).json()
        again = (await http.post("/settle", json=body)).json()
    one_success(retried, [again], block_hash)
    await _paid_once(replicas, nano_devnet, nano_rpc, block_hash, pay_to)


async def test_dead_after_sending_the_block_before_its_finalize(
    replicas, nano_devnet, nano_rpc, nano_funded_account
):
    stack = replicas.stack
    block_hash, pay_to, body = await _payment(nano_rpc, nano_devnet, nano_funded_account)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        answer = await replicas.settle_and_die("confirm", http, stack.gateway_url, NETWORK, body)
        assert nano_devnet.devnet.process_requests[block_hash] == 1 and replicas.submits == 0
        assert (await stack.ledger_record(block_hash)).state is RecordState.SUBMITTED
        first, copies = await replicas.replace_amid_copies(answer, http, body)
    # The survivor resolved the block from the node and handed the waiting caller its success.
    one_success(first, copies, block_hash)
    await _paid_once(replicas, nano_devnet, nano_rpc, block_hash, pay_to)


async def test_dead_after_sending_the_block_its_caller_gone_the_reconciler_finishes(
    replicas, nano_devnet, nano_rpc, nano_funded_account
):
    stack = replicas.stack
    block_hash, pay_to, body = await _payment(nano_rpc, nano_devnet, nano_funded_account)
    impatient = await stack.add_gateway(settle_timeout=1.0)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        # The work item comes again only after the caller's deadline: the survivor starts nothing for it.
        answer = await replicas.settle_and_die("confirm", http, impatient.url, NETWORK, body, ack_wait=2.0)
        await replicas.replace()
        first = await answer
        assert first.status_code == 503 and first.json()["error"] == "worker_timeout", first.text
        # The survivor took the late work item and acknowledged it, leaving the record as it was.
        await work_taken_again(replicas.survivor)
        assert (await stack.ledger_record(block_hash)).state is RecordState.SUBMITTED
        # Nobody let the payment go: the ledger lists it once past its attempt's deadline (the pass
        # run here rather than waited for), and the reconciler finishes it.
        assert await stack.ledger.store.index_overdue(now=time.time() + 3600) == 1
        await until(lambda: stack.ledger.store.pending_index.holds(encode_key(block_hash)), what="listed")
        assert await replicas.survivor.pipeline.reconcile_once(older_than_seconds=0) == 1
        stored = await stack.ledger_record(block_hash)
        assert stored.state is RecordState.SETTLED and not stored.delivered_to
        retried = (await http.post("/settle", json=body)).json()
        again = (await http.post(impatient.url + "/settle", json=body)).json()
    one_success(retried, [again], block_hash)
    await _paid_once(replicas, nano_devnet, nano_rpc, block_hash, pay_to)
