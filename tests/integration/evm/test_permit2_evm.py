"""Permit2 `exact` through the real stack (gateway -> NATS -> worker -> ledger) against the devnet's
Permit2 and x402 exact proxy, with payloads the official SDK client signs: verify, settle once, copies,
the eip2612GasSponsoring extension, and a stranger's abuse (forgeries, zero value, unlisted tokens,
fee drain, ten concurrent copies) leaving no ledger state and no transaction."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
from eth_account import Account

from tests.fixtures.evm import serve_evm, token_balance
from tests.fixtures.permit2 import (
    TOKEN_UNIT,
    ether_balance,
    permit2_body,
    permit2_payer,
    permit2_payment_id,
    sdk_approval,
    signed_approval,
    without_ether,
)
from x402fac.devnet.evm import EIP2612_ADDRESS, ERC20_ADDRESS
from x402fac.devnet.evm.rpc import DevnetRpc, calldata
from x402fac.worker import Confirmation, Submitted
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme

TOKENS = frozenset({ERC20_ADDRESS.lower(), EIP2612_ADDRESS.lower()})


async def signers_state(info: dict) -> list[tuple[int, int]]:
    """(ETH balance, pending nonce) of every facilitator signer: unchanged means nothing was sent."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        return [
            (
                await rpc.balance(signer["address"]),
                int(await rpc.call("eth_getTransactionCount", signer["address"], "pending"), 16),
            )
            for signer in info["facilitators"]
        ]


async def verify_and_settle(stack, body: dict) -> tuple[dict, dict]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        verified = (await http.post("/verify", json=body)).json()
        settled = (await http.post("/settle", json=body)).json()
    return verified, settled


async def assert_refused_without_trace(
    stack, info: dict, body: dict, reason: str, *, verify: bool = True
) -> dict:
    """verify and settle both refuse with `reason`; nothing was sent and the ledger kept nothing."""
    before = await signers_state(info)
    verified, settled = await verify_and_settle(stack, body)
    if verify:
        assert verified["isValid"] is False and verified["invalidReason"] == reason, verified
    assert settled["success"] is False and settled["errorReason"] == reason, settled
    assert settled["transaction"] == ""
    assert await signers_state(info) == before
    assert await stack.ledger_record(permit2_payment_id(info, body)) is None
    return settled


async def test_pre_approved_erc20_settles_once_and_copies_get_the_paying_transaction(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    body = permit2_body(info, payer, ERC20_ADDRESS, pay_to, 3 * TOKEN_UNIT)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        verified, settled = await verify_and_settle(stack, body)
        assert verified["isValid"] is True and verified["payer"] == payer.address, verified
        assert settled["success"] is True, settled
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            copy = (await http.post("/settle", json=body)).json()
            again = (await http.post("/verify", json=body)).json()
    assert copy["success"] is False and copy["errorReason"] == "duplicate_settlement"
    assert copy["transaction"] == settled["transaction"]
    assert again["isValid"] is False and again["invalidReason"] == "permit2_invalid_nonce", again
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == 3 * TOKEN_UNIT
    assert await token_balance(info, ERC20_ADDRESS, payer.address) == 7 * TOKEN_UNIT
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settled["transaction"])
    assert receipt["status"] == "0x1" and receipt["to"].lower() == info["permit2"]["exactProxy"].lower()
    record = await stack.ledger_record(permit2_payment_id(info, body))
    assert record is not None and record.transaction == settled["transaction"]


async def test_ten_concurrent_copies_one_success(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    body = permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            answers = [
                a.json() for a in await asyncio.gather(*(http.post("/settle", json=body) for _ in range(10)))
            ]
    successes = [a for a in answers if a["success"]]
    assert len(successes) == 1, answers
    paid = successes[0]["transaction"]
    for answer in answers:
        if not answer["success"]:
            assert answer["errorReason"] == "duplicate_settlement" and answer["transaction"] == paid, answer
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == TOKEN_UNIT


async def test_without_allowance_or_sponsoring_nothing_is_claimed(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS, approved=False)
    body = permit2_body(info, payer, ERC20_ADDRESS, Account.create().address, TOKEN_UNIT)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        await assert_refused_without_trace(stack, info, body, "permit2_allowance_required")


async def test_forged_and_altered_authorizations_leave_no_state(stack, evm_devnet):
    info = evm_devnet
    victim = await permit2_payer(info, ERC20_ADDRESS)
    stranger = Account.create()
    pay_to = Account.create().address
    forged = permit2_body(
        info, victim, ERC20_ADDRESS, stranger.address, TOKEN_UNIT, signer=stranger, to=stranger.address
    )
    cases = [
        (forged, "invalid_permit2_signature"),
        # signed for a spender that is not the proxy, or another token than the asset
        (
            permit2_body(info, victim, ERC20_ADDRESS, pay_to, TOKEN_UNIT, spender=stranger.address),
            "invalid_permit2_spender",
        ),
        (
            permit2_body(info, victim, ERC20_ADDRESS, pay_to, TOKEN_UNIT, permitted_token=EIP2612_ADDRESS),
            "permit2_token_mismatch",
        ),
        # zero value, below any minimum
        (permit2_body(info, victim, ERC20_ADDRESS, pay_to, 0), "amount_below_minimum"),
    ]
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        for body, reason in cases:
            await assert_refused_without_trace(stack, info, body, reason)
        # A valid payment for a token the network does not list.
        listed_usdc_only = permit2_body(info, victim, ERC20_ADDRESS, pay_to, TOKEN_UNIT)
    async with serve_evm(stack, info):
        await assert_refused_without_trace(stack, info, listed_usdc_only, "unsupported_asset")
    assert await token_balance(info, ERC20_ADDRESS, victim.address) == 10 * TOKEN_UNIT


async def test_authorization_checks_on_verify(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    now = int(time.time())
    cases = [
        (
            permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, to=Account.create().address),
            "invalid_permit2_recipient_mismatch",
        ),
        (
            permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, permitted_amount=2 * TOKEN_UNIT),
            "permit2_amount_mismatch",
        ),
        (
            permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, deadline=now + 2),
            "permit2_deadline_expired",
        ),
        (
            permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, valid_after=now + 600),
            "permit2_not_yet_valid",
        ),
        (permit2_body(info, payer, ERC20_ADDRESS, pay_to, 100 * TOKEN_UNIT), "insufficient_balance"),
    ]
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            for body, reason in cases:
                verified = (await http.post("/verify", json=body)).json()
                assert verified["isValid"] is False and verified["invalidReason"] == reason, (
                    reason,
                    verified,
                )


async def test_fee_drain_is_refused_before_signing_and_settles_later(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    body = permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT)
    async with serve_evm(stack, info, allowed_assets=TOKENS, max_settle_cost_wei=1_000):
        settled = await assert_refused_without_trace(stack, info, body, "fee_too_high", verify=False)
    assert "above the ceiling 1000" in settled["errorMessage"]
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        _, retried = await verify_and_settle(stack, body)
    assert retried["success"] is True, retried
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == TOKEN_UNIT


async def test_eip2612_gas_sponsoring_settles_without_a_prior_approval(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, EIP2612_ADDRESS, approved=False)
    pay_to = Account.create().address
    body = permit2_body(info, payer, EIP2612_ADDRESS, pay_to, 2 * TOKEN_UNIT, eip2612=True)
    sponsoring = frozenset({"eip2612GasSponsoring"})
    async with serve_evm(stack, info, allowed_assets=TOKENS, gas_sponsoring=sponsoring) as scheme:
        assert scheme.supported().extensions == ["eip2612GasSponsoring"]
        verified, settled = await verify_and_settle(stack, body)
    assert verified["isValid"] is True, verified
    assert settled["success"] is True, settled
    assert await token_balance(info, EIP2612_ADDRESS, pay_to) == 2 * TOKEN_UNIT
    assert await token_balance(info, EIP2612_ADDRESS, payer.address) == 8 * TOKEN_UNIT
    # Not enabled: not advertised, the extension is ignored and the missing allowance refuses.
    other = await permit2_payer(info, EIP2612_ADDRESS, approved=False)
    body = permit2_body(info, other, EIP2612_ADDRESS, pay_to, 2 * TOKEN_UNIT, eip2612=True)
    async with serve_evm(stack, info, allowed_assets=TOKENS) as scheme:
        assert scheme.supported().extensions == []
        await assert_refused_without_trace(stack, info, body, "permit2_allowance_required")


async def test_eip2612_permit_of_someone_else_is_refused(stack, evm_devnet):
    info = evm_devnet
    payer = await permit2_payer(info, EIP2612_ADDRESS, approved=False)
    other = await permit2_payer(info, EIP2612_ADDRESS, approved=False)
    body = permit2_body(info, payer, EIP2612_ADDRESS, Account.create().address, TOKEN_UNIT, eip2612=True)
    theirs = permit2_body(info, other, EIP2612_ADDRESS, Account.create().address, TOKEN_UNIT, eip2612=True)
    body["paymentPayload"]["extensions"] = theirs["paymentPayload"]["extensions"]
    async with serve_evm(
        stack, info, allowed_assets=TOKENS, gas_sponsoring=frozenset({"eip2612GasSponsoring"})
    ):
        await assert_refused_without_trace(stack, info, body, "eip2612_from_mismatch")


APPROVAL_SPONSORING = frozenset({"erc20ApprovalGasSponsoring"})


async def test_erc20_approval_sponsoring_funds_and_sends_the_payers_approval_then_settles(stack, evm_devnet):
    info = evm_devnet
    payer = await without_ether(info, await permit2_payer(info, ERC20_ADDRESS, approved=False))
    pay_to = Account.create().address
    body = permit2_body(
        info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, approval=sdk_approval(info, payer, ERC20_ADDRESS)
    )
    before = await signers_state(info)
    async with serve_evm(stack, info, allowed_assets=TOKENS, gas_sponsoring=APPROVAL_SPONSORING) as scheme:
        assert scheme.supported().extensions == ["erc20ApprovalGasSponsoring"]
        verified, settled = await verify_and_settle(stack, body)
    assert verified["isValid"] is True, verified
    assert settled["success"] is True, settled
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == TOKEN_UNIT
    # Two transactions of ours (the funding, the settlement); the payer's own approval in between.
    after = await signers_state(info)
    assert sum(nonce for _, nonce in after) == sum(nonce for _, nonce in before) + 2
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        assert int(await rpc.call("eth_getTransactionCount", payer.address, "latest"), 16) == 1
        allowance = await rpc.eth_call(
            ERC20_ADDRESS,
            calldata(
                "allowance(address,address)",
                ["address", "address"],
                [payer.address, info["permit2"]["address"]],
            ),
        )
    assert int.from_bytes(allowance, "big") == 2**256 - 1
    # What we paid for the payer's gas is at most the approval's gas limit x its maxFeePerGas.
    assert 0 <= await ether_balance(info, payer.address) < 70_000 * 10**10


async def test_erc20_approval_sponsoring_is_ignored_when_not_enabled(stack, evm_devnet):
    info = evm_devnet
    payer = await without_ether(info, await permit2_payer(info, ERC20_ADDRESS, approved=False))
    approval = await signed_approval(info, payer, ERC20_ADDRESS)
    body = permit2_body(info, payer, ERC20_ADDRESS, Account.create().address, TOKEN_UNIT, approval=approval)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        await assert_refused_without_trace(stack, info, body, "permit2_allowance_required")
    assert await ether_balance(info, payer.address) == 0


async def test_a_stranger_cannot_make_us_fund_an_approval(stack, evm_devnet):
    info = evm_devnet
    payer = await without_ether(info, await permit2_payer(info, ERC20_ADDRESS, approved=False))
    stranger = Account.create()
    pay_to = Account.create().address
    cases = [
        # signed by someone else than the payer
        (
            await signed_approval(info, payer, ERC20_ADDRESS, signer=stranger),
            "erc20_approval_tx_signer_mismatch",
            {},
        ),
        # approving someone else than Permit2
        (
            await signed_approval(info, payer, ERC20_ADDRESS, spender=stranger.address),
            "erc20_approval_tx_wrong_spender",
            {},
        ),
        # not a transaction at all
        ("0x02c0ffee", "erc20_approval_tx_parse_failed", {}),
        # a valid approval with a payment that fails another check: nothing is funded
        (
            await signed_approval(info, payer, ERC20_ADDRESS),
            "invalid_permit2_recipient_mismatch",
            {"to": stranger.address},
        ),
    ]
    async with serve_evm(stack, info, allowed_assets=TOKENS, gas_sponsoring=APPROVAL_SPONSORING):
        for approval, reason, changes in cases:
            body = permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, approval=approval, **changes)
            await assert_refused_without_trace(stack, info, body, reason)
        # An approval at a fee far above the network's: the settle is refused before anything is sent.
        drain = await signed_approval(info, payer, ERC20_ADDRESS, max_fee=10**15)
        body = permit2_body(info, payer, ERC20_ADDRESS, pay_to, TOKEN_UNIT, approval=drain)
        settled = await assert_refused_without_trace(stack, info, body, "fee_too_high", verify=False)
    assert "maxFeePerGas" in settled["errorMessage"]
    assert await ether_balance(info, payer.address) == 0
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == 0


async def test_another_process_judges_a_permit2_settlement_from_the_chain(stack, evm_devnet):
    """Reconciliation without the payment in memory: the proxy's Settled event decides, and a proxy call
    that moved nothing is not a success."""
    info = evm_devnet
    payer = await permit2_payer(info, ERC20_ADDRESS)
    body = permit2_body(info, payer, ERC20_ADDRESS, Account.create().address, TOKEN_UNIT)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        _, settled = await verify_and_settle(stack, body)
    assert settled["success"] is True, settled
    fresh = ExactEvmScheme([replace(network_from_devnet(info), allowed_assets=TOKENS)])
    try:
        judged = await fresh.resolve(Submitted(settled["transaction"], info["network"], ""), 5)
        assert judged.status is Confirmation.CONFIRMED, judged
        # A successful call to the proxy that emitted no Settled (a view function, sent as a transaction).
        async with DevnetRpc(info["rpcUrl"]) as rpc:
            view_call = calldata("WITNESS_TYPE_STRING()", [], [])
            stray = await rpc.send(info["minter"]["privateKey"], info["permit2"]["exactProxy"], view_call)
            await rpc.wait_receipt(stray)
        judged = await fresh.resolve(Submitted(stray, info["network"], ""), 5)
        assert judged.status is Confirmation.FAILED and "Transfer" in judged.message, judged
    finally:
        await fresh.close()
