"""EVM `exact` verify against the devnet: every failure has its own precise reason; verify never writes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import (
    deploy_smart_wallet,
    funded_payer,
    payment_request,
    sign_authorization,
    usdc_balance,
)
from x402fac.protocol import VerifyRequest
from x402fac.worker import Invalid, check_binding
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme


async def reason_of(scheme: ExactEvmScheme, request: VerifyRequest) -> tuple[str, str] | None:
    """(reason, message) of an invalid payment, None when valid (the pipeline's verify steps)."""
    try:
        check_binding(request)
        identity = await scheme.identify(request)
        await scheme.verify(request, identity)
    except Invalid as invalid:
        return invalid.reason, invalid.message
    return None


async def settle_directly(scheme: ExactEvmScheme, request: VerifyRequest) -> str:
    identity = await scheme.identify(request)
    await scheme.verify(request, identity)
    prepared = await scheme.prepare(request, identity)
    await scheme.broadcast(prepared)
    outcome = await scheme.confirm(prepared, 10)
    assert outcome.status == "confirmed", outcome
    return prepared.transaction


@pytest.fixture(scope="module")
async def payer(evm_devnet: dict):
    return await funded_payer(evm_devnet, 10_000_000)


def payee() -> str:
    return Account.create().address


async def test_valid_payment_verifies_and_reads_only(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 1_500_000)
    before = await usdc_balance(evm_devnet, payer.address)
    assert await reason_of(evm_scheme, request) is None
    assert await reason_of(evm_scheme, request) is None  # nothing was consumed
    assert await usdc_balance(evm_devnet, payer.address) == before
    identity = await evm_scheme.identify(request)
    nonce = request.payment_payload.payload["authorization"]["nonce"]
    assert (
        identity.payment_id
        == f"84532/{evm_devnet['usdc']['address'].lower()}/{payer.address.lower()}/{nonce}"
    )
    assert identity.payer == payer.address and identity.amount == "1500000"


async def test_signature_by_another_key_is_invalid_signature(evm_devnet, evm_scheme, payer) -> None:
    to = payee()
    request = payment_request(evm_devnet, payer, to, 1000)
    _, foreign = sign_authorization(
        Account.create(), evm_devnet, to=to, value=1000, valid_after=0, valid_before=int(time.time()) + 300
    )
    body = msgspec.to_builtins(request)
    body["paymentPayload"]["payload"]["signature"] = "0x" + foreign.hex()
    reason, message = await reason_of(evm_scheme, msgspec.convert(body, VerifyRequest))
    assert reason == "invalid_signature"
    assert "does not recover" in message


async def test_recipient_mismatch(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 1000, to=payee())
    assert (await reason_of(evm_scheme, request))[0] == "recipient_mismatch"


async def test_value_below_amount_is_amount_too_low_and_above_is_amount_mismatch(
    evm_devnet, evm_scheme, payer
) -> None:
    assert (await reason_of(evm_scheme, payment_request(evm_devnet, payer, payee(), 1000, value=999)))[
        0
    ] == "amount_too_low"
    assert (await reason_of(evm_scheme, payment_request(evm_devnet, payer, payee(), 1000, value=1001)))[
        0
    ] == "amount_mismatch"


async def test_expired_within_the_six_second_margin(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 1000, valid_before=int(time.time()) + 3)
    assert (await reason_of(evm_scheme, request))[0] == "expired"


async def test_not_yet_valid(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 1000, valid_after=int(time.time()) + 120)
    assert (await reason_of(evm_scheme, request))[0] == "not_yet_valid"


async def test_insufficient_balance(evm_devnet, evm_scheme) -> None:
    poor = await funded_payer(evm_devnet, 999)
    reason, message = await reason_of(evm_scheme, payment_request(evm_devnet, poor, payee(), 1000))
    assert reason == "insufficient_balance"
    assert "999" in message


async def test_replayed_authorization_is_nonce_already_used(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 2500)
    await settle_directly(evm_scheme, request)
    reason, message = await reason_of(evm_scheme, request)
    assert reason == "nonce_already_used"
    assert request.payment_payload.payload["authorization"]["nonce"] in message


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"name": "USD Coin", "version": "2"}, "name"), ({"name": "USDC", "version": "1"}, "version")],
)
async def test_wrong_token_name_or_version_says_which(evm_devnet, evm_scheme, payer, extra, field) -> None:
    # The client signed with the domain the requirements named, so the local check passes; the token disagrees.
    request = payment_request(
        evm_devnet,
        payer,
        payee(),
        1000,
        requirements={"extra": extra},
        name=extra["name"],
        version=extra["version"],
    )
    reason, message = await reason_of(evm_scheme, request)
    assert reason == "token_domain_mismatch"
    assert f"token {field} is" in message


async def test_missing_domain_in_extra(evm_devnet, evm_scheme, payer) -> None:
    request = payment_request(evm_devnet, payer, payee(), 1000, requirements={"extra": {"name": "USDC"}})
    assert (await reason_of(evm_scheme, request))[0] == "missing_eip712_domain"


async def test_asset_without_code_is_not_a_contract(evm_devnet, payer) -> None:
    any_token = ExactEvmScheme([replace(network_from_devnet(evm_devnet), any_asset=True)])
    fake_token = Account.create().address
    request = payment_request(
        evm_devnet, payer, payee(), 1000, requirements={"asset": fake_token}, token=fake_token
    )
    try:
        assert (await reason_of(any_token, request))[0] == "asset_not_a_contract"
    finally:
        await any_token.close()


async def test_malformed_payload_is_invalid_payload(evm_devnet, evm_scheme, payer) -> None:
    body = msgspec.to_builtins(payment_request(evm_devnet, payer, payee(), 1000))
    body["paymentPayload"]["payload"]["authorization"]["nonce"] = "0x1234"
    reason, message = await reason_of(evm_scheme, msgspec.convert(body, VerifyRequest))
    assert reason == "invalid_payload" and "nonce" in message


async def test_accepted_must_match_requirements(evm_devnet, evm_scheme, payer) -> None:
    body = msgspec.to_builtins(payment_request(evm_devnet, payer, payee(), 1000))
    body["paymentRequirements"]["amount"] = "2000"
    assert (await reason_of(evm_scheme, msgspec.convert(body, VerifyRequest)))[0] == "requirements_mismatch"


def wallet_request(info: dict, signer, wallet: str, to: str, value: int) -> VerifyRequest:
    authorization, signature = sign_authorization(
        signer,
        info,
        to=to,
        value=value,
        valid_after=0,
        valid_before=int(time.time()) + 300,
        from_address=wallet,
    )
    body = msgspec.to_builtins(payment_request(info, signer, to, value))
    body["paymentPayload"]["payload"] = {"signature": "0x" + signature.hex(), "authorization": authorization}
    return msgspec.convert(body, VerifyRequest)


async def test_erc1271_wallet_accepted_and_wrong_signature_rejected(evm_devnet, evm_scheme) -> None:
    owner = Account.create()
    wallet = await deploy_smart_wallet(evm_devnet, owner.address, usdc=5_000)
    to = payee()
    request = wallet_request(evm_devnet, owner, wallet, to, 3_000)
    assert await reason_of(evm_scheme, request) is None
    await settle_directly(evm_scheme, request)
    assert await usdc_balance(evm_devnet, to) == 3_000

    reason, message = await reason_of(
        evm_scheme, wallet_request(evm_devnet, Account.create(), wallet, to, 1_000)
    )
    assert reason == "invalid_signature"
    assert "ERC-1271" in message


async def test_allowlist_refuses_other_tokens_without_asking_a_node(evm_devnet, payer) -> None:
    # The node URL is dead: any RPC call would answer node_unavailable, not unsupported_asset.
    offline = ExactEvmScheme([replace(network_from_devnet(evm_devnet), rpc_urls=("http://127.0.0.1:9",))])
    other = Account.create().address
    request = payment_request(evm_devnet, payer, payee(), 1000, requirements={"asset": other}, token=other)
    try:
        reason, message = await reason_of(offline, request)
        assert reason == "unsupported_asset" and other in message
        # The listed asset (the devnet's USDC) gets past the allowlist and needs the node.
        listed = payment_request(evm_devnet, payer, payee(), 1000)
        assert (await reason_of(offline, listed))[0] == "node_unavailable"
    finally:
        await offline.close()


async def test_failover_to_the_next_rpc_and_node_unavailable_when_none_answers(evm_devnet, payer) -> None:
    config = network_from_devnet(evm_devnet)
    dead = "http://127.0.0.1:9"
    with_failover = ExactEvmScheme([replace(config, rpc_urls=(dead, evm_devnet["rpcUrl"]))])
    all_dead = ExactEvmScheme([replace(config, rpc_urls=(dead,))])
    try:
        assert await reason_of(with_failover, payment_request(evm_devnet, payer, payee(), 1000)) is None
        reason, _ = await reason_of(all_dead, payment_request(evm_devnet, payer, payee(), 1000))
        assert reason == "node_unavailable"
    finally:
        await with_failover.close()
        await all_dead.close()


async def test_settle_checks_refuse_an_asset_without_code(evm_devnet, payer) -> None:
    """Settle skips the simulation (gas estimation repeats it) but never the contract check."""
    # No contract remembered yet; any EIP-3009 token accepted, so the asset gets past the allowlist.
    fresh = ExactEvmScheme([replace(network_from_devnet(evm_devnet), any_asset=True)])
    fake_token = Account.create().address
    request = payment_request(
        evm_devnet, payer, payee(), 1000, requirements={"asset": fake_token}, token=fake_token
    )
    try:
        with pytest.raises(Invalid) as refused:
            await fresh.verify_for_settle(request, await fresh.identify(request))
        assert refused.value.reason == "asset_not_a_contract"
    finally:
        await fresh.close()


async def test_concurrent_first_verifies_of_a_token(evm_devnet, payer) -> None:
    """Many verifies racing on a token nobody has looked at yet all get an answer (none crash)."""
    fresh = ExactEvmScheme([network_from_devnet(evm_devnet)])
    requests = [payment_request(evm_devnet, payer, payee(), 1000) for _ in range(16)]
    try:
        results = await asyncio.gather(*(reason_of(fresh, request) for request in requests))
        assert results == [None] * 16
    finally:
        await fresh.close()
