"""A Solana worker replica dies on the claim-with-transaction path (docs/design.md, 2.3: the
transaction is the payer's, so the claim records its signature and the record is created
`submitted`), and another replica or the reconciler finishes the payment: the seller is paid at most
once, at most one request is answered success:true, and a success always has its transfer on chain.

- dead after the claim recorded the signature, before it was sent: the replica that takes the work
  item again finds nothing on chain while the blockhash lives, so it answers settlement_pending and
  sends nothing (only the record's owner sends, 2.3); once the blockhash expired the reconciler
  releases the record, and the retry is told blockhash_expired: nothing was paid, nothing answered
  success;
- dead after sending, before its finalize: the replica that takes the work item again resolves the
  signature from the chain and answers the waiting caller success:true, sending nothing.
"""

from collections import Counter

import httpx
import pytest

from tests.fixtures.replicas import Replicas
from tests.fixtures.solana import partially_signed, solana_payment_body, solana_requirements, usdc_payment
from tests.fixtures.stack import one_success
from tests.integration.solana.solana_helpers import counted_sends
from x402fac.devnet.solana import NETWORK
from x402fac.devnet.solana.chain import MAX_PROCESSING_AGE
from x402fac.protocol import Reason
from x402fac.protocol.ledger import RecordState
from x402fac.worker_solana.config import network_from_devnet
from x402fac.worker_solana.exact import ExactSolanaScheme
from x402fac.worker_solana.transaction import message_hash

PRICE = 10_000


@pytest.fixture
async def replicas(own_stack, solana_devnet):
    """Replicas on a stack of their own: no other Solana worker takes the work items they hand over."""
    network = network_from_devnet(solana_devnet.info())
    made = Replicas(own_stack, "solana", lambda: ExactSolanaScheme([network], confirm_poll=0.05))
    yield made
    await made.close()


def _payment(solana_devnet, solana_payer, fee_payer, pay_to) -> tuple[str, str, dict]:
    """(payment id, paying signature, /settle body); the take-over waits at most maxTimeoutSeconds for
    the chain before answering settlement_pending."""
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    signature = str(partially_signed(tx.message, [fee_payer, solana_payer]).signatures[0])
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey(), maxTimeoutSeconds=2)
    return message_hash(tx.message), signature, solana_payment_body(requirements, tx)


async def test_dead_after_the_claim_recorded_the_signature_before_sending_it(
    replicas, solana_devnet, solana_payer, fee_payer, pay_to
):
    stack, chain = replicas.stack, solana_devnet.chain
    payment_id, signature, body = _payment(solana_devnet, solana_payer, fee_payer, pay_to)
    payer_balance = solana_devnet.usdc_balance(solana_payer.pubkey())
    with counted_sends(solana_devnet) as sends:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            answer = await replicas.settle_and_die("broadcast", http, stack.gateway_url, NETWORK, body)
            record = await stack.ledger_record(payment_id)
            # The claim itself recorded the signature (no separate submit); nothing was sent.
            assert record is not None and record.state is RecordState.SUBMITTED, record
            assert record.transaction == signature and replicas.submits == 0
            await replicas.replace()

            first = (await answer).json()
            # The survivor took the work item again: nothing on chain, the blockhash still lives, and
            # only the record's owner sends: nothing is judged, nothing is sent.
            assert first["success"] is False and first["errorReason"] == Reason.SETTLEMENT_PENDING, first
            assert first["transaction"] == signature
            assert (await stack.ledger_record(payment_id)).state is RecordState.SUBMITTED
            # Before the blockhash expires the reconciler leaves it be (it could still land).
            assert await replicas.survivor.pipeline.reconcile_once(older_than_seconds=0) == 0

            chain.advance(MAX_PROCESSING_AGE + 1)
            assert await replicas.survivor.pipeline.reconcile_once(older_than_seconds=0) == 1
            assert await stack.ledger_record(payment_id) is None
            retried = (await http.post("/settle", json=body)).json()
    assert retried["success"] is False and retried["errorReason"] == Reason.BLOCKHASH_EXPIRED, retried
    assert retried["transaction"] == ""
    assert sends == Counter()
    assert chain.signature_status(signature) is None
    assert solana_devnet.usdc_balance(pay_to) == 0
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == payer_balance


async def test_dead_after_sending_before_its_finalize(
    replicas, solana_devnet, solana_payer, fee_payer, pay_to
):
    stack = replicas.stack
    payment_id, signature, body = _payment(solana_devnet, solana_payer, fee_payer, pay_to)
    with counted_sends(solana_devnet) as sends:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            answer = await replicas.settle_and_die("confirm", http, stack.gateway_url, NETWORK, body)
            assert sends == Counter({signature: 1}) and replicas.submits == 0
            assert (await stack.ledger_record(payment_id)).state is RecordState.SUBMITTED
            first, copies = await replicas.replace_amid_copies(answer, http, body)
    # The survivor resolved the signature from the chain and handed the waiting caller its success.
    one_success(first, copies, signature)
    assert sends == Counter({signature: 1})
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    settled = await stack.ledger_record(payment_id)
    assert settled.state is RecordState.SETTLED and settled.delivered_at
