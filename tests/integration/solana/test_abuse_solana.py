"""Abuse resistance on Solana through the real stack (docs/design.md, "Abuse rules"): we pay the fees, so
worthless payments, costly compute budgets and mints that take a cut are refused before anything is sent,
and what a settle costs the fee payer stays within the configured maximum."""

import pytest
from solders.keypair import Keypair

from tests.fixtures.solana import USDC_UNIT, solana_payment_body, solana_requirements, usdc_payment
from tests.integration.solana.solana_helpers import configured, exact_payment, token_2022_payment
from x402fac.devnet.solana import USDC_MINT
from x402fac.devnet.solana.token2022 import (
    create_mint_2022,
    permanent_delegate,
    token_2022_balance,
    transfer_fee,
)
from x402fac.protocol import Reason
from x402fac.worker_solana.config import MAX_FEE_LAMPORTS
from x402fac.worker_solana.transaction import message_hash

PRICE = 10_000  # 0.01 USDC
TOP_PRICE = 5_000_000  # micro-lamports per compute unit, the default cap


async def refused_everywhere(gateway, stack, solana_devnet, body, tx, fee_payer, reason) -> None:
    """verify and settle both answer `reason`; nothing was sent (the fee payer paid nothing) and the
    ledger holds nothing for the payment."""
    lamports = solana_devnet.chain.svm.get_balance(fee_payer.pubkey())
    history = len(solana_devnet.chain.history)
    verified = (await gateway.post("/verify", json=body)).json()
    settled = (await gateway.post("/settle", json=body)).json()
    assert verified["isValid"] is False and verified["invalidReason"] == reason, verified
    assert settled["success"] is False and settled["errorReason"] == reason, settled
    assert settled["transaction"] == ""
    assert solana_devnet.chain.svm.get_balance(fee_payer.pubkey()) == lamports
    assert len(solana_devnet.chain.history) == history
    assert await stack.ledger_record(message_hash(tx.message)) is None


async def test_zero_amount_is_refused_and_nothing_is_sent(gateway, stack, solana_devnet, fee_payer, pay_to):
    payer = solana_devnet.new_payer(0)  # a brand-new payer with no balance, as an attacker makes them
    tx = usdc_payment(payer, pay_to, 0, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    body = solana_payment_body(solana_requirements(pay_to, 0, fee_payer.pubkey()), tx)
    await refused_everywhere(gateway, stack, solana_devnet, body, tx, fee_payer, Reason.AMOUNT_BELOW_MINIMUM)


async def test_amount_below_a_configured_minimum_is_refused(
    gateway, stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    tx = usdc_payment(solana_payer, pay_to, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash)
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    with configured(solana_worker, min_amount_by_asset={str(USDC_MINT): PRICE + 1}):
        await refused_everywhere(
            gateway, stack, solana_devnet, body, tx, fee_payer, Reason.AMOUNT_BELOW_MINIMUM
        )
    assert (await gateway.post("/settle", json=body)).json()["success"] is True  # the default minimum is 1


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        (1_400_000, Reason.COMPUTE_LIMIT_TOO_HIGH),  # the largest compute limit
        # Within the limit cap, but at the top price the fee is 10,000 + 200,000 lamports.
        (40_000, Reason.FEE_TOO_HIGH),
    ],
    ids=["the-largest-compute-limit", "a-fee-above-the-maximum"],
)
async def test_top_price_payments_are_refused(
    gateway, stack, solana_devnet, solana_payer, fee_payer, pay_to, units, reason
):
    blockhash = solana_devnet.chain.latest_blockhash
    tx = exact_payment(
        solana_payer, pay_to, PRICE, fee_payer.pubkey(), blockhash, price=TOP_PRICE, units=units
    )
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    await refused_everywhere(gateway, stack, solana_devnet, body, tx, fee_payer, reason)
    assert solana_devnet.usdc_balance(pay_to) == 0


async def test_a_settle_costs_the_fee_payer_at_most_the_configured_maximum(
    gateway, stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    """The official client's 20,000 units at the top price: the most a default settle can cost."""
    chain = solana_devnet.chain
    tx = usdc_payment(
        solana_payer, pay_to, PRICE, fee_payer.pubkey(), chain.latest_blockhash, price=TOP_PRICE
    )
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey()), tx)
    with configured(solana_worker, max_fee_lamports=MAX_FEE_LAMPORTS - 1):  # one lamport short
        await refused_everywhere(gateway, stack, solana_devnet, body, tx, fee_payer, Reason.FEE_TOO_HIGH)

    before = chain.svm.get_balance(fee_payer.pubkey())
    settled = (await gateway.post("/settle", json=body)).json()
    assert settled["success"] is True, settled
    cost = before - chain.svm.get_balance(fee_payer.pubkey())
    assert 0 < cost <= MAX_FEE_LAMPORTS
    assert cost == chain.history[settled["transaction"]].execution.fee
    assert solana_devnet.usdc_balance(pay_to) == PRICE


@pytest.mark.parametrize(
    ("name", "extensions"),
    [
        ("transfer_fee", lambda: [transfer_fee(100, 10**9, Keypair().pubkey())]),
        ("permanent_delegate", lambda: [permanent_delegate(Keypair().pubkey())]),
    ],
)
async def test_mints_that_take_a_cut_or_move_funds_back_are_refused_by_default(
    gateway, stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to, name, extensions
):
    mint = create_mint_2022(
        solana_devnet, extensions(), holders={solana_payer.pubkey(): USDC_UNIT}, accounts_for=(pay_to,)
    )
    tx = token_2022_payment(
        solana_payer, pay_to, mint, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
    )
    body = solana_payment_body(solana_requirements(pay_to, PRICE, fee_payer.pubkey(), asset=str(mint)), tx)
    with configured(solana_worker, assets=frozenset({str(USDC_MINT), str(mint)})):  # listed, still refused
        await refused_everywhere(
            gateway, stack, solana_devnet, body, tx, fee_payer, Reason.MINT_EXTENSION_NOT_ALLOWED
        )
        message = (await gateway.post("/verify", json=body)).json()["invalidMessage"]
    assert name in message
    assert token_2022_balance(solana_devnet, pay_to, mint) == 0


async def test_with_the_fee_mint_allowed_pay_to_must_net_exactly_the_amount(
    gateway, stack, solana_worker, solana_devnet, solana_payer, fee_payer, pay_to
):
    mint = create_mint_2022(
        solana_devnet,
        [transfer_fee(100, 10**9, Keypair().pubkey())],  # 1%, rounded up
        holders={solana_payer.pubkey(): USDC_UNIT},
        accounts_for=(pay_to,),
    )
    requirements = solana_requirements(pay_to, PRICE, fee_payer.pubkey(), asset=str(mint))
    blockhash = solana_devnet.chain.latest_blockhash
    exact = token_2022_payment(solana_payer, pay_to, mint, PRICE, fee_payer.pubkey(), blockhash)
    gross = token_2022_payment(solana_payer, pay_to, mint, 10_102, fee_payer.pubkey(), blockhash)
    over = token_2022_payment(solana_payer, pay_to, mint, 10_103, fee_payer.pubkey(), blockhash)
    allowed = configured(
        solana_worker,
        assets=frozenset({str(USDC_MINT), str(mint)}),
        allowed_mint_extensions=frozenset({"transfer_fee"}),
    )
    with allowed:
        # `amount` sent nets less after the fee; one unit more than needed nets too much.
        await refused_everywhere(
            gateway,
            stack,
            solana_devnet,
            solana_payment_body(requirements, exact),
            exact,
            fee_payer,
            Reason.AMOUNT_TOO_LOW,
        )
        await refused_everywhere(
            gateway,
            stack,
            solana_devnet,
            solana_payment_body(requirements, over),
            over,
            fee_payer,
            Reason.AMOUNT_MISMATCH,
        )
        verified = (await gateway.post("/verify", json=solana_payment_body(requirements, gross))).json()
        settled = (await gateway.post("/settle", json=solana_payment_body(requirements, gross))).json()
    assert verified["isValid"] is True, verified
    assert settled["success"] is True, settled
    assert token_2022_balance(solana_devnet, pay_to, mint) == PRICE  # 10,102 sent, 102 withheld
    assert token_2022_balance(solana_devnet, solana_payer.pubkey(), mint) == USDC_UNIT - 10_102
