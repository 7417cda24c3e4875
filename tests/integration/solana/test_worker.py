"""The Solana worker through the real stack (gateway -> NATS -> worker -> ledger) against the devnet.

Every refusal answers its precise reason and moves nothing; a payment is sent at most once.
"""

import asyncio
import os
from collections import Counter

import pytest
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import (
    CreateLookupTableParams,
    ExtendLookupTableParams,
    TransferParams,
    create_lookup_table,
    extend_lookup_table,
    transfer,
)
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction

from tests.fixtures.solana import (
    USDC_UNIT,
    ata_transfer,
    b64,
    compute_limit,
    compute_price,
    partially_signed,
    solana_payment_body,
    solana_requirements,
    usdc_payment,
)
from tests.integration.solana.solana_helpers import UNCHANGED, configured, counted_sends, token_2022_payment
from x402fac.devnet.solana import NETWORK, USDC_MINT
from x402fac.devnet.solana.instructions import TOKEN, ata, memo
from x402fac.devnet.solana.token2022 import create_mint_2022, token_2022_balance
from x402fac.protocol import Reason
from x402fac.worker import Confirmation, Outcome, Submitted
from x402fac.worker_solana.transaction import message_hash

PRICE = 10_000  # 0.01 USDC


async def post(gateway, path: str, body: dict) -> dict:
    answer = await gateway.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def signature_of(tx) -> str:
    """The signature the facilitator's fee-payer slot will carry (ed25519 is deterministic)."""
    return str(tx.signatures[0])


async def test_supported_lists_devnet_with_fee_payer(gateway, solana_devnet):
    for _ in range(50):
        supported = (await gateway.get("/supported")).json()
        kinds = [k for k in supported["kinds"] if k["network"] in (NETWORK, "solana-devnet")]
        if kinds:
            break
        await asyncio.sleep(0.1)
    fee_payer = str(solana_devnet.fee_payers[0].pubkey())
    extra = {"feePayer": fee_payer, "assets": [str(USDC_MINT)]}  # only the devnet's USDC is settled
    assert {"x402Version": 2, "scheme": "exact", "network": NETWORK, "extra": extra} in kinds
    assert {"x402Version": 1, "scheme": "exact", "network": "solana-devnet", "extra": extra} in kinds
    assert set(supported["signers"]["solana:*"]) == {str(k.pubkey()) for k in solana_devnet.fee_payers}


async def test_verify_then_settle_moves_exactly_the_price(
    gateway, solana_devnet, solana_payer, fee_payer, pay_to
):
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    payer = str(solana_payer.pubkey())
    fee_payer_sol = solana_devnet.chain.svm.get_balance(fee_payer.pubkey())

    assert await post(gateway, "/verify", body) == {"isValid": True, "payer": payer}
    assert solana_devnet.usdc_balance(pay_to) == 0  # verify moved nothing

    settled = await post(gateway, "/settle", body)
    signed = partially_signed(tx.message, [fee_payer, solana_payer])
    assert settled == {
        "success": True,
        "transaction": signature_of(signed),
        "network": NETWORK,
        "payer": payer,
        "amount": str(PRICE),
    }
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == 100 * USDC_UNIT - PRICE
    status = solana_devnet.chain.signature_status(settled["transaction"])
    assert status["confirmationStatus"] in ("confirmed", "finalized")
    # The facilitator paid the fee: two signatures plus a 1 micro-lamport x 20,000 unit priority fee.
    assert solana_devnet.chain.svm.get_balance(fee_payer.pubkey()) == fee_payer_sol - 10_001


async def test_legacy_v1_body_settles(gateway, solana_devnet, solana_payer, fee_payer, pay_to):
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    requirements = {
        "scheme": "exact",
        "network": "solana-devnet",
        "maxAmountRequired": str(PRICE),
        "payTo": str(pay_to),
        "asset": str(USDC_MINT),
        "resource": "https://example.test/thing",
        "description": "",
        "mimeType": "",
        "maxTimeoutSeconds": 30,
        "extra": {"feePayer": str(fee_payer.pubkey())},
    }
    body = {
        "x402Version": 1,
        "paymentPayload": {
            "x402Version": 1,
            "scheme": "exact",
            "network": "solana-devnet",
            "payload": {"transaction": b64(tx)},
        },
        "paymentRequirements": requirements,
    }
    settled = await post(gateway, "/settle", body)
    assert settled["success"] is True, settled
    assert solana_devnet.usdc_balance(pay_to) == PRICE


def _foreign_mint(solana_devnet, holder: Keypair) -> Pubkey:
    """Another 6-decimal mint, `holder` holding some of it."""
    mint = Keypair().pubkey()
    chain = solana_devnet.chain
    data = bytes(Mint(Keypair().pubkey(), 10**9, 6, True, None))
    chain.set_account(mint, Account(chain.svm.minimum_balance_for_rent_exemption(82), data, TOKEN, False, 0))
    account = TokenAccount(mint, holder.pubkey(), 10**9, None, TokenAccountState.Initialized, None, 0)
    chain.set_account(
        ata(holder.pubkey(), mint),
        Account(chain.svm.minimum_balance_for_rent_exemption(165), bytes(account), TOKEN, False, 0),
    )
    return mint


REFUSALS = [
    "fee_payer_as_authority",
    "fee_payer_in_memo_accounts",
    "wrong_mint",
    "asset_not_a_mint",
    "wrong_destination",
    "amount_below",
    "amount_above",
    "compute_price_over_cap",
    "unknown_extra_instruction",
    "missing_payer_signature",
    "memo_differs_from_extra_memo",
    "short_random_memo",
    "fee_payer_not_ours",
    "insufficient_balance",
    "expired_blockhash",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_refusals_name_their_reason_and_move_nothing(
    gateway, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to, case
):
    chain = solana_devnet.chain
    blockhash = chain.latest_blockhash
    payer = solana_payer
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey())
    kwargs: dict = {}
    expected_reason = {
        "fee_payer_as_authority": Reason.FEE_PAYER_TRANSFERRING,
        "fee_payer_in_memo_accounts": Reason.FEE_PAYER_IN_INSTRUCTION,
        "wrong_mint": Reason.MINT_MISMATCH,
        "asset_not_a_mint": Reason.ASSET_NOT_A_MINT,
        "wrong_destination": Reason.RECIPIENT_MISMATCH,
        "amount_below": Reason.AMOUNT_TOO_LOW,
        "amount_above": Reason.AMOUNT_MISMATCH,
        "compute_price_over_cap": Reason.COMPUTE_PRICE_TOO_HIGH,
        "unknown_extra_instruction": Reason.UNKNOWN_INSTRUCTION,
        "missing_payer_signature": Reason.MISSING_SIGNATURE,
        "memo_differs_from_extra_memo": Reason.MEMO_MISMATCH,
        "short_random_memo": Reason.MEMO_MISSING,
        "fee_payer_not_ours": Reason.FEE_PAYER_NOT_MANAGED,
        "insufficient_balance": Reason.INSUFFICIENT_BALANCE,
        "expired_blockhash": Reason.BLOCKHASH_EXPIRED,
    }[case]
    amount = PRICE
    fee_payer_key = fee_payer.pubkey()
    if case == "fee_payer_as_authority":
        kwargs["authority"] = fee_payer.pubkey()
    elif case == "fee_payer_in_memo_accounts":
        kwargs["memo_accounts"] = (fee_payer.pubkey(),)
    elif case == "wrong_mint":
        kwargs["mint"] = _foreign_mint(solana_devnet, payer)
    elif case == "asset_not_a_mint":
        requirements["asset"] = str(ata(payer.pubkey(), USDC_MINT))
    elif case == "wrong_destination":
        kwargs["destination"] = ata(solana_devnet.payers[0].pubkey(), USDC_MINT)
    elif case == "amount_below":
        amount = PRICE - 1
    elif case == "amount_above":
        amount = PRICE + 1
    elif case == "compute_price_over_cap":
        kwargs["price"] = 5_000_001
    elif case == "unknown_extra_instruction":
        kwargs["extra_instructions"] = (
            transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=pay_to, lamports=1)),
        )
    elif case == "memo_differs_from_extra_memo":
        requirements["extra"]["memo"] = "order-42"
        kwargs["memo_bytes"] = b"order-43"
    elif case == "short_random_memo":
        kwargs["memo_bytes"] = b"0123456789"
    elif case == "fee_payer_not_ours":
        fee_payer_key = Keypair().pubkey()
        requirements["extra"]["feePayer"] = str(fee_payer_key)
    elif case == "insufficient_balance":
        amount = 101 * USDC_UNIT
        requirements["amount"] = str(amount)
    tx = usdc_payment(payer, pay_to, amount, fee_payer_key, blockhash, **kwargs)
    if case == "missing_payer_signature":
        tx = partially_signed(tx.message, [])
    if case == "expired_blockhash":
        chain.advance(151)
    body = solana_payment_body(requirements, tx)
    before = solana_devnet.usdc_balance(payer.pubkey())

    # An address that is no mint gets that far only where any asset is accepted (an opt-in).
    with configured(solana_worker, assets=None if case == "asset_not_a_mint" else UNCHANGED):
        verified = await post(gateway, "/verify", body)
        settled = await post(gateway, "/settle", body)
    assert verified["isValid"] is False
    assert verified["invalidReason"] == expected_reason, verified
    assert settled["success"] is False
    assert settled["errorReason"] == expected_reason, settled
    assert settled["transaction"] == ""
    assert solana_devnet.usdc_balance(payer.pubkey()) == before
    assert solana_devnet.usdc_balance(pay_to) == 0


async def test_second_payment_for_the_same_memo_is_a_duplicate(
    gateway, solana_devnet, solana_payer, fee_payer, pay_to
):
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey(), extra={"memo": "invoice-7"})
    blockhash = solana_devnet.chain.latest_blockhash
    first = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), blockhash, memo_bytes=b"invoice-7")
    second_payer = solana_devnet.new_payer(10 * USDC_UNIT)
    second = usdc_payment(second_payer, pay_to, PRICE, fee_payer.pubkey(), blockhash, memo_bytes=b"invoice-7")

    assert (await post(gateway, "/settle", solana_payment_body(requirements, first)))["success"] is True
    refused = await post(gateway, "/settle", solana_payment_body(requirements, second))
    assert refused["success"] is False
    assert refused["errorReason"] == Reason.DUPLICATE_SETTLEMENT
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    assert solana_devnet.usdc_balance(second_payer.pubkey()) == 10 * USDC_UNIT


async def test_resubmission_with_another_fee_payer_slot_is_a_duplicate(
    gateway, solana_devnet, solana_payer, fee_payer, pay_to
):
    """The fee-payer slot is not part of the payment: rewriting it makes no second payment."""
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey())
    first = await post(gateway, "/settle", solana_payment_body(requirements, tx))
    assert first["success"] is True

    tampered = VersionedTransaction.populate(tx.message, [Signature(os.urandom(64)), tx.signatures[1]])
    again = await post(gateway, "/settle", solana_payment_body(requirements, tampered))
    assert again["success"] is False
    assert again["errorReason"] == Reason.DUPLICATE_SETTLEMENT, again
    assert again["transaction"] == first["transaction"]
    assert again["payer"] == str(solana_payer.pubkey())
    assert solana_devnet.usdc_balance(pay_to) == PRICE


async def test_concurrent_settles_of_one_payment_send_once(
    gateway, solana_devnet, solana_payer, fee_payer, pay_to
):
    with counted_sends(solana_devnet) as sends:
        tx = usdc_payment(
            solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
        )
        body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
        answers = await asyncio.gather(*(post(gateway, "/settle", body) for _ in range(20)))
    signature = signature_of(partially_signed(tx.message, [fee_payer, solana_payer]))
    assert sends == Counter({signature: 1})
    # One success per payment: every other copy is told it is a duplicate. A copy that arrives
    # before the signature is recorded cannot name it yet (the pipeline knows none then).
    winners = [answer for answer in answers if answer["success"]]
    assert len(winners) == 1 and winners[0]["transaction"] == signature, answers
    for answer in answers:
        if not answer["success"]:
            assert answer["errorReason"] == Reason.DUPLICATE_SETTLEMENT, answer
            assert answer["transaction"] in (signature, ""), answer
    assert solana_devnet.usdc_balance(pay_to) == PRICE
    later = await post(gateway, "/settle", body)
    assert later["errorReason"] == Reason.DUPLICATE_SETTLEMENT, later
    assert later["transaction"] == signature


async def wait_until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_late_confirmation_is_pending_then_final(
    gateway, solana_devnet, solana_payer, fee_payer, pay_to
):
    chain = solana_devnet.chain
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), chain.latest_blockhash)
    body = solana_payment_body(
        solana_requirements(pay_to, PRICE, fee_payer.pubkey(), maxTimeoutSeconds=1), tx
    )
    signature = signature_of(partially_signed(tx.message, [fee_payer, solana_payer]))
    chain.confirm_delay = 3.0
    try:
        pending = await post(gateway, "/settle", body)
    finally:
        chain.confirm_delay = 0.3
    assert pending["success"] is False
    assert pending["errorReason"] == Reason.SETTLEMENT_PENDING, pending
    assert pending["transaction"] == signature
    await wait_until(lambda: chain.signature_status(signature)["confirmationStatus"] != "processed")
    final = await post(gateway, "/settle", body)
    assert final["success"] is True and final["transaction"] == signature
    third = await post(gateway, "/settle", body)
    assert third["errorReason"] == Reason.DUPLICATE_SETTLEMENT, third
    assert third["transaction"] == signature
    assert solana_devnet.usdc_balance(pay_to) == PRICE


async def test_dropped_transaction_fails_once_its_blockhash_expires(
    stack, gateway, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    chain = solana_devnet.chain
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), chain.latest_blockhash)
    body = solana_payment_body(
        solana_requirements(pay_to, PRICE, fee_payer.pubkey(), maxTimeoutSeconds=1), tx
    )
    chain.drop_transactions = True  # a congested cluster loses it
    try:
        pending = await post(gateway, "/settle", body)
    finally:
        chain.drop_transactions = False
    assert pending["errorReason"] == Reason.SETTLEMENT_PENDING, pending
    signature = pending["transaction"]
    assert solana_devnet.chain.signature_status(signature) is None  # it never landed
    record = await stack.ledger_record(message_hash(tx.message))
    assert record is not None and record.transaction == signature
    submitted = Submitted(signature, NETWORK, record.hint)
    assert await solana_worker.resolve(submitted, 0.2) == Outcome(
        Confirmation.PENDING, message="not confirmed within 0.2s"
    )

    chain.advance(151)
    dropped = await solana_worker.resolve(submitted, 0.2)
    assert dropped.status is Confirmation.DROPPED
    assert dropped.reason == Reason.BLOCKHASH_EXPIRED
    # The reconciler concludes it and releases the claim: the payment is refused on its merits now.
    (worker,) = [w for w in stack.workers if w.family == "solana"]
    assert await worker.pipeline.reconcile_once(older_than_seconds=0) >= 1
    again = await post(gateway, "/settle", body)
    assert again["errorReason"] == Reason.BLOCKHASH_EXPIRED, again
    assert again["transaction"] == ""
    assert solana_devnet.usdc_balance(pay_to) == 0


def _lookup_table(solana_devnet, addresses: list[Pubkey]) -> Pubkey:
    """An address lookup table holding `addresses`, created and extended by real transactions."""
    chain = solana_devnet.chain
    authority = solana_devnet.new_payer(0, lamports=10**9)
    chain.advance(1)  # so there is a previous slot to derive the table from
    create, table = create_lookup_table(
        CreateLookupTableParams(
            authority_address=authority.pubkey(), payer_address=authority.pubkey(), recent_slot=chain.slot - 1
        )
    )
    extend = extend_lookup_table(
        ExtendLookupTableParams(
            payer_address=authority.pubkey(),
            lookup_table_address=table,
            authority_address=authority.pubkey(),
            new_addresses=addresses,
        )
    )
    message = MessageV0.try_compile(authority.pubkey(), [create, extend], [], chain.latest_blockhash)
    tx = VersionedTransaction(message, [authority])
    assert chain.process(tx, bytes(tx)).execution.err is None
    chain.advance(1)  # addresses become usable the slot after they were added
    return table


def _payment_through_table(
    payer: Keypair, pay_to: Pubkey, fee_payer: Pubkey, blockhash, table: AddressLookupTableAccount
):
    instructions = [
        compute_limit(20_000),
        compute_price(1),
        ata_transfer(payer.pubkey(), pay_to, USDC_MINT, PRICE, 6),
        memo(os.urandom(16).hex().encode()),
    ]
    message = MessageV0.try_compile(fee_payer, instructions, [table], blockhash)
    return partially_signed(message, [payer])


async def test_lookup_tables_are_resolved_or_refused(gateway, solana_devnet, solana_payer, fee_payer, pay_to):
    destination = ata(pay_to, USDC_MINT)
    table = _lookup_table(solana_devnet, [destination, USDC_MINT])
    blockhash = solana_devnet.chain.latest_blockhash
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey())

    tx = _payment_through_table(
        solana_payer,
        pay_to,
        fee_payer.pubkey(),
        blockhash,
        AddressLookupTableAccount(table, [destination, USDC_MINT]),
    )
    assert tx.message.address_table_lookups  # the destination really comes from the table
    assert (await post(gateway, "/verify", solana_payment_body(requirements, tx)))["isValid"] is True
    assert (await post(gateway, "/settle", solana_payment_body(requirements, tx)))["success"] is True
    assert solana_devnet.usdc_balance(pay_to) == PRICE

    missing = AddressLookupTableAccount(Keypair().pubkey(), [destination, USDC_MINT])
    unresolvable = _payment_through_table(solana_payer, pay_to, fee_payer.pubkey(), blockhash, missing)
    refused = await post(gateway, "/verify", solana_payment_body(requirements, unresolvable))
    assert refused["invalidReason"] == Reason.LOOKUP_TABLE_UNRESOLVED


async def test_a_token_2022_mint_is_settled_only_when_listed(
    gateway, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    """A Token-2022 mint pays through the Token-2022 program and its ATAs, once the operator lists it."""
    mint = create_mint_2022(solana_devnet, [], holders={solana_payer.pubkey(): 10**6}, accounts_for=(pay_to,))
    chain = solana_devnet.chain
    tx = token_2022_payment(solana_payer, pay_to, mint, PRICE, fee_payer.pubkey(), chain.latest_blockhash)
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey(), asset=str(mint))
    body = solana_payment_body(requirements, tx)

    refused = await post(gateway, "/settle", body)  # the allowlist is the devnet's USDC alone
    assert refused["errorReason"] == Reason.UNSUPPORTED_ASSET, refused
    assert (await post(gateway, "/verify", body))["invalidReason"] == Reason.UNSUPPORTED_ASSET
    with configured(solana_worker, assets=frozenset({str(USDC_MINT), str(mint)})):
        settled = await post(gateway, "/settle", body)
    assert settled["success"] is True, settled
    assert token_2022_balance(solana_devnet, pay_to, mint) == PRICE


async def test_fee_payer_may_be_the_payee(gateway, solana_devnet, solana_payer):
    fee_payer = solana_devnet.fee_payers[1]
    solana_devnet.fund(fee_payer.pubkey())  # its USDC account
    before = solana_devnet.usdc_balance(fee_payer.pubkey())
    tx = usdc_payment(
        solana_payer, fee_payer.pubkey(), PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
    )
    body = solana_payment_body(solana_requirements(fee_payer.pubkey(), PRICE, fee_payer.pubkey()), tx)
    settled = await post(gateway, "/settle", body)
    assert settled["success"] is True, settled
    assert solana_devnet.usdc_balance(fee_payer.pubkey()) == before + PRICE
