"""ERC-6492 counterfactual wallets on the devnet: verify simulates the factory then asks the wallet
(ERC-1271) and changes nothing; settle deploys the wallet and pays in one transaction through
Multicall3, once; a deployed wallet is asked directly and never deployed again; a wrapper around
garbage, an unlisted factory or a factory that does not produce the payer is refused before the ledger.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import httpx
import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import funded_payer, payment_request, serve_evm, usdc_balance
from tests.fixtures.evm_wallets import code_of, counterfactual_wallet, deployments_of, wrapped_request
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.devnet.evm.wallets import deploy_calldata
from x402fac.devnet.evm.wallets import wrap_signature as wrap
from x402fac.worker import Invalid
from x402fac.worker_evm import erc6492
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme

PRICE = 2_500


def body(request) -> dict:
    return msgspec.to_builtins(request)


def payment_id(info: dict, request) -> str:
    authorization = request.payment_payload.payload["authorization"]
    return f"{info['chainId']}/{info['usdc']['address'].lower()}/{authorization['from'].lower()}/{authorization['nonce']}"


async def refusal(scheme, request) -> Invalid:
    try:
        identity = await scheme.identify(request)
        await scheme.verify(request, identity)
    except Invalid as invalid:
        return invalid
    raise AssertionError("the payment verified")


async def test_undeployed_wallet_verifies_by_simulation_and_nothing_is_deployed(evm_devnet, evm_scheme):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    request = wrapped_request(evm_devnet, wallet, Account.create().address, PRICE)
    identity = await evm_scheme.identify(request)
    await evm_scheme.verify(request, identity)
    assert identity.payer == wallet.address
    assert identity.payment_id == payment_id(evm_devnet, request)  # the id of the unwrapped payment
    assert identity.payment.settlement.deploys_wallet is True
    assert identity.payment.settlement.target == erc6492.MULTICALL3
    assert await code_of(evm_devnet, wallet.address) == "0x"


async def test_refusals_before_any_state(evm_devnet, evm_scheme):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    pay_to = Account.create().address
    inner_request = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
    inner = erc6492.unwrap(bytes.fromhex(inner_request.payment_payload.payload["signature"][2:])).inner

    garbage = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=os.urandom(100) + erc6492.SUFFIX)
    assert (await refusal(evm_scheme, garbage)).reason == "invalid_erc6492_wrapper"

    no_factory = wrap("0x" + "00" * 20, wallet.factory_calldata, inner)
    request = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=no_factory)
    assert (await refusal(evm_scheme, request)).reason == "invalid_erc6492_wrapper"

    stranger_factory = wrap(Account.create().address, wallet.factory_calldata, inner)
    request = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=stranger_factory)
    assert (await refusal(evm_scheme, request)).reason == "eip6492_factory_not_allowed"

    # The allowed factory, asked to deploy someone else's wallet: nothing appears at the payer.
    other = bytes.fromhex(deploy_calldata(Account.create().address, 1)[2:])
    request = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=wrap(wallet.factory, other, inner))
    invalid = await refusal(evm_scheme, request)
    assert invalid.reason == "smart_wallet_deployment_failed"
    assert wallet.address in invalid.message

    reverting = wrap(wallet.factory, b"\xde\xad\xbe\xef", inner)
    request = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=reverting)
    assert (await refusal(evm_scheme, request)).reason == "smart_wallet_deployment_failed"

    # The right deployment, but signed by a key that does not own the wallet.
    forged = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
    stranger = Account.create()
    forged_inner = wrapped_request(evm_devnet, replace(wallet, owner=stranger), pay_to, PRICE)
    forged.payment_payload.payload.update(forged_inner.payment_payload.payload)
    assert (await refusal(evm_scheme, forged)).reason == "invalid_signature"
    assert await code_of(evm_devnet, wallet.address) == "0x"


async def test_settle_deploys_once_pays_exactly_and_a_deployed_wallet_is_asked_directly(stack, evm_devnet):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    pay_to = Account.create().address
    first = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http,
    ):
        verified = (await http.post("/verify", json=body(first))).json()
        assert verified == {"isValid": True, "payer": wallet.address}, verified
        settled = (await http.post("/settle", json=body(first))).json()
        assert settled["success"] is True, settled
        async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
            receipt = await rpc.call("eth_getTransactionReceipt", settled["transaction"])
        assert receipt["to"].lower() == erc6492.MULTICALL3.lower()
        assert await code_of(evm_devnet, wallet.address) != "0x"

        # The same wallet pays again with a wrapped signature: no deployment, a plain transfer.
        second = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
        again = (await http.post("/settle", json=body(second))).json()
        assert again["success"] is True, again
        async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
            receipt = await rpc.call("eth_getTransactionReceipt", again["transaction"])
        assert receipt["to"].lower() == evm_devnet["usdc"]["address"].lower()
    assert await deployments_of(evm_devnet, wallet.address) == 1
    assert await usdc_balance(evm_devnet, pay_to) == 2 * PRICE
    assert await usdc_balance(evm_devnet, wallet.address) == 10_000 - 2 * PRICE


async def test_ten_concurrent_copies_one_success_one_deployment(stack, evm_devnet):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    pay_to = Account.create().address
    request = body(wrapped_request(evm_devnet, wallet, pay_to, PRICE))
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as http,
    ):
        answers = await asyncio.gather(*(http.post("/settle", json=request) for _ in range(10)))
    results = [a.json() for a in answers]
    assert [a.status_code for a in answers] == [200] * 10
    assert sum(r["success"] for r in results) == 1, results
    paid = next(r["transaction"] for r in results if r["success"])
    assert {r["errorReason"] for r in results if not r["success"]} == {"duplicate_settlement"}
    assert {r["transaction"] for r in results} == {paid}
    assert await deployments_of(evm_devnet, wallet.address) == 1
    assert await usdc_balance(evm_devnet, pay_to) == PRICE


async def test_forged_or_unlisted_wrappers_leave_no_record_and_send_nothing(stack, evm_devnet):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    pay_to = Account.create().address
    request = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
    inner = erc6492.unwrap(bytes.fromhex(request.payment_payload.payload["signature"][2:])).inner
    attacks = {
        "invalid_erc6492_wrapper": os.urandom(64) + erc6492.SUFFIX,
        "eip6492_factory_not_allowed": wrap(Account.create().address, wallet.factory_calldata, inner),
        "smart_wallet_deployment_failed": wrap(
            wallet.factory, bytes.fromhex(deploy_calldata(Account.create().address, 7)[2:]), inner
        ),
    }
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http,
    ):
        for reason, signature in attacks.items():
            attack = wrapped_request(evm_devnet, wallet, pay_to, PRICE, signature=signature)
            settled = (await http.post("/settle", json=body(attack))).json()
            assert settled["success"] is False and settled["errorReason"] == reason, settled
            assert settled["transaction"] == ""
            assert await stack.ledger_record(payment_id(evm_devnet, attack)) is None
    assert await stack.payer_settles(wallet.address) == 0
    assert await code_of(evm_devnet, wallet.address) == "0x"
    assert await usdc_balance(evm_devnet, wallet.address) == 10_000


async def test_the_deployment_is_in_the_gas_plan_and_under_the_cost_ceiling(evm_devnet, evm_scheme):
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    pay_to = Account.create().address
    deploying = wrapped_request(evm_devnet, wallet, pay_to, PRICE)
    plain = payment_request(evm_devnet, await funded_payer(evm_devnet, 10_000), pay_to, PRICE)
    deploy_plan = await evm_scheme.verify_for_settle(deploying, await evm_scheme.identify(deploying))
    plain_plan = await evm_scheme.verify_for_settle(plain, await evm_scheme.identify(plain))
    assert deploy_plan.gas > plain_plan.gas + 50_000  # the wallet's deployment is paid for too

    # A ceiling between the two costs: the plain transfer settles, the deployment is refused unsent.
    fee = max(deploy_plan.fees.max_fee_per_gas, plain_plan.fees.max_fee_per_gas)
    ceiling = (deploy_plan.gas + plain_plan.gas) // 2 * fee
    capped = ExactEvmScheme([replace(network_from_devnet(evm_devnet), max_settle_cost_wei=ceiling)])
    try:
        refused = await capped.identify(deploying)
        with pytest.raises(Invalid) as invalid:
            await capped.verify_for_settle(deploying, refused)
        assert invalid.value.reason == "fee_too_high", invalid.value
        await capped.verify_for_settle(plain, await capped.identify(plain))
    finally:
        await capped.close()
    assert await code_of(evm_devnet, wallet.address) == "0x"
