"""One payment, one success, on Solana through the real stack (docs/design.md, 2.4): copies of a payment are
told `duplicate_settlement` with the paying signature, forgeries leave no ledger state, and the chain
moves the price once."""

import asyncio
import json
import os
from collections import Counter

import httpx
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from tests.fixtures.solana import (
    USDC_UNIT,
    partially_signed,
    solana_payment_body,
    solana_requirements,
    usdc_payment,
)
from tests.fixtures.stack import JSON_FORMATS
from tests.integration.solana.solana_helpers import counted_sends
from x402fac.protocol import Reason
from x402fac.worker_solana.transaction import message_hash

PRICE = 10_000  # 0.01 USDC


def paying_signature(tx: VersionedTransaction, fee_payer: Keypair, payer: Keypair) -> str:
    """The signature the settled transaction carries (our slot 0; ed25519 is deterministic)."""
    return str(partially_signed(tx.message, [fee_payer, payer]).signatures[0])


async def test_second_settle_is_a_duplicate_and_verify_says_why(
    stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    signature = paying_signature(tx, fee_payer, solana_payer)
    with counted_sends(solana_devnet) as sends:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            first = (await http.post("/settle", json=body)).json()
            second = (await http.post("/settle", json=body)).json()
            verified = (await http.post("/verify", json=body)).json()
    assert first.get("success") is True and first["transaction"] == signature, first
    assert second["success"] is False
    assert second["errorReason"] == Reason.DUPLICATE_SETTLEMENT
    assert second["transaction"] == signature
    assert "already settled" in second["errorMessage"]
    assert verified["isValid"] is False
    assert verified["invalidReason"] == Reason.DUPLICATE_SETTLEMENT, verified
    assert sends == Counter({signature: 1})
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    assert solana_devnet.chain.signature_status(signature)["err"] is None


async def test_ten_copies_over_two_gateways_one_success(
    stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey())
    signature = paying_signature(tx, fee_payer, solana_payer)
    # Copies differ in their JSON and in the fee-payer slot's bytes (ours to fill, not the payment's).
    slots = [Signature.default(), Signature(os.urandom(64))]
    bodies = [
        solana_payment_body(
            requirements, VersionedTransaction.populate(tx.message, [slots[i % 2], tx.signatures[1]])
        )
        for i in range(10)
    ]
    copies = [json.dumps(body, **JSON_FORMATS[i % 5]) for i, body in enumerate(bodies)]
    assert len(set(copies)) == 10
    payer_balance = solana_devnet.usdc_balance(solana_payer.pubkey())
    with counted_sends(solana_devnet) as sends:
        answers = await stack.settle_over_two_gateways(copies)
    results = [answer.json() for answer in answers]
    assert [answer.status_code for answer in answers] == [200] * 10
    winners = [r for r in results if r["success"]]
    assert len(winners) == 1 and winners[0]["transaction"] == signature, results
    duplicates = [r for r in results if not r["success"]]
    assert [r["errorReason"] for r in duplicates] == [Reason.DUPLICATE_SETTLEMENT] * 9, duplicates
    # A copy that arrived before the signature was recorded cannot name it yet.
    assert all(r["transaction"] in (signature, "") for r in duplicates), duplicates
    assert sends == Counter({signature: 1})
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == payer_balance - PRICE
    record = await stack.ledger_record(message_hash(tx.message))
    assert record is not None and record.transaction == signature and record.delivered_at


async def test_forged_payer_signatures_leave_no_ledger_state(
    stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    payer = str(solana_payer.pubkey())
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey())
    before = await stack.payer_settles(payer)
    forged = []
    for _ in range(12):
        honest = usdc_payment(
            solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
        )
        impostor = Keypair()  # signs the payer's slot: the transaction names the payer as authority
        fake = VersionedTransaction.populate(
            honest.message, [Signature.default(), impostor.sign_message(to_bytes_versioned(honest.message))]
        )
        forged.append((fake, solana_payment_body(requirements, fake)))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answers = [(await http.post("/settle", json=body)).json() for _, body in forged]
        assert [a["errorReason"] for a in answers] == [Reason.INVALID_SIGNATURE] * 12, answers
        assert all(a["transaction"] == "" and a["success"] is False for a in answers)
        for fake, _ in forged:
            assert await stack.ledger_record(message_hash(fake.message)) is None
        assert await stack.payer_settles(payer) == before
        assert solana_devnet.usdc_balance(pay_to) == 0

        own = usdc_payment(
            solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
        )
        settled = (await http.post("/settle", json=solana_payment_body(requirements, own))).json()
    assert settled["success"] is True, settled
    assert await stack.payer_settles(payer) == before + 1
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == 100 * USDC_UNIT - PRICE


async def test_gateway_gives_up_then_retry_gets_the_one_success(
    stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    chain = solana_devnet.chain
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), chain.latest_blockhash)
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    signature = paying_signature(tx, fee_payer, solana_payer)
    impatient = await stack.add_gateway(settle_timeout=1.5)
    with counted_sends(solana_devnet) as sends:
        async with httpx.AsyncClient(timeout=30) as http:
            chain.confirm_delay = 4.0  # the cluster confirms after the gateway gave up
            try:
                first = (await http.post(impatient.url + "/settle", json=body)).json()
            finally:
                chain.confirm_delay = 0.3
            assert first["success"] is False
            assert first["errorReason"] == Reason.SETTLEMENT_PENDING, first
            assert first["transaction"] == signature
            for _ in range(200):  # wait for the chain, not for the facilitator
                status = chain.signature_status(signature)
                if status and status["confirmationStatus"] != "processed":
                    break
                await asyncio.sleep(0.05)
            second = (await http.post(impatient.url + "/settle", json=body)).json()
            third = (await http.post(stack.gateway_url + "/settle", json=body)).json()
    assert second["success"] is True and second["transaction"] == signature, second
    assert third["errorReason"] == Reason.DUPLICATE_SETTLEMENT and third["transaction"] == signature
    assert sends == Counter({signature: 1})
    assert solana_devnet.usdc_balance(pay_to) == PRICE
