"""Abuse rules on EVM, through the real stack and the devnet: a stranger cannot make us pay for a worthless
payment. Zero amounts, unlisted contracts, a token that succeeds only at gas price 0, and fees above the
network's ceiling are all refused before anything is signed; each test checks that the facilitator
signers' nonces and ETH balances did not move (nothing was sent) and the ledger kept nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from tests.fixtures.evm import (
    CountingProxy,
    deploy_smart_wallet,
    funded_payer,
    payment_request,
    serve_evm,
    usdc_balance,
)
from x402fac.devnet.evm.rpc import DevnetRpc, RpcError, calldata

NETWORK = "eip155:84532"
TRAP_DOMAIN = {"name": "Trap", "version": "1"}


async def signers_state(info: dict) -> list[tuple[int, int, int]]:
    """(ETH balance, latest nonce, pending nonce) of every facilitator signer."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        return [
            (
                await rpc.balance(signer["address"]),
                int(await rpc.call("eth_getTransactionCount", signer["address"], "latest"), 16),
                int(await rpc.call("eth_getTransactionCount", signer["address"], "pending"), 16),
            )
            for signer in info["facilitators"]
        ]


async def deploy(info: dict, contract: str) -> str:
    """Deploys a compiled devnet contract (no constructor arguments) from a fresh key."""
    artifacts = json.loads(Path(info["artifacts"]).read_text())
    [compiled] = [c[contract] for c in artifacts["contracts"].values() if contract in c]
    deployer = Account.create()
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        await rpc.call("anvil_setBalance", deployer.address, hex(10**18))
        tx_hash = await rpc.send(
            "0x" + bytes(deployer.key).hex(), None, "0x" + compiled["evm"]["bytecode"]["object"]
        )
        receipt = await rpc.wait_receipt(tx_hash)
    return to_checksum_address(receipt["contractAddress"])


def payment_body(info: dict, payer, pay_to: str, amount: int, token: str | None = None) -> dict:
    """A settle/verify body; with `token`, for that asset and signed for its EIP-712 domain."""
    if token is None:
        return msgspec.to_builtins(payment_request(info, payer, pay_to, amount))
    request = payment_request(
        info,
        payer,
        pay_to,
        amount,
        requirements={"asset": token, "extra": TRAP_DOMAIN},
        token=token,
        **TRAP_DOMAIN,
    )
    return msgspec.to_builtins(request)


def payment_id(info: dict, body: dict) -> str:
    authorization = body["paymentPayload"]["payload"]["authorization"]
    asset = body["paymentRequirements"]["asset"].lower()
    return f"{info['chainId']}/{asset}/{authorization['from'].lower()}/{authorization['nonce']}"


async def verify_and_settle(stack, body: dict) -> tuple[dict, dict]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        verified = (await http.post("/verify", json=body)).json()
        settled = (await http.post("/settle", json=body)).json()
    return verified, settled


def assert_refused(verified: dict | None, settled: dict, reason: str) -> None:
    if verified is not None:
        assert verified["isValid"] is False and verified["invalidReason"] == reason, verified
    assert settled["success"] is False and settled["errorReason"] == reason, settled
    assert settled["transaction"] == ""


@pytest.fixture(scope="module")
async def trap(evm_devnet) -> str:
    return await deploy(evm_devnet, "GasPriceTrap")


async def test_zero_amount_is_refused_on_verify_and_settle_and_nothing_is_sent(stack, evm_devnet):
    payer = await funded_payer(evm_devnet, 0)  # a brand-new payer with nothing, as an attacker uses
    pay_to = Account.create().address
    body = payment_body(evm_devnet, payer, pay_to, 0)
    before = await signers_state(evm_devnet)
    async with serve_evm(stack, evm_devnet):
        verified, settled = await verify_and_settle(stack, body)
    assert_refused(verified, settled, "amount_below_minimum")
    assert "minimum 1" in settled["errorMessage"]
    assert await signers_state(evm_devnet) == before
    assert await stack.ledger_record(payment_id(evm_devnet, body)) is None
    assert await stack.payer_settles(payer.address) == 0


async def test_configured_minimum_refuses_below_and_settles_at_it(stack, evm_devnet):
    payer = await funded_payer(evm_devnet, 10_000)
    pay_to = Account.create().address
    below = payment_body(evm_devnet, payer, pay_to, 999)
    at = payment_body(evm_devnet, payer, pay_to, 1_000)
    async with serve_evm(stack, evm_devnet, min_amount=1_000):
        before = await signers_state(evm_devnet)
        verified, settled = await verify_and_settle(stack, below)
        assert_refused(verified, settled, "amount_below_minimum")
        assert await signers_state(evm_devnet) == before
        _, paid = await verify_and_settle(stack, at)
    assert paid["success"] is True, paid
    assert await usdc_balance(evm_devnet, pay_to) == 1_000


async def test_unlisted_contract_is_refused_without_any_rpc_call(stack, evm_devnet, trap):
    payer = await funded_payer(evm_devnet, 0)
    body = payment_body(evm_devnet, payer, Account.create().address, 1_000, token=trap)
    before = await signers_state(evm_devnet)
    async with CountingProxy(evm_devnet["rpcUrl"]) as proxy:
        async with serve_evm(stack, evm_devnet, rpc_urls=(proxy.url,)):
            proxy.methods.clear()
            verified, settled = await verify_and_settle(stack, body)
            asked = list(proxy.methods)
            # The worker does reach the node through the proxy: the listed USDC is checked on chain.
            listed = payment_body(evm_devnet, payer, Account.create().address, 1_000)
            await verify_and_settle(stack, listed)
            assert "eth_call" in proxy.methods
    assert_refused(verified, settled, "unsupported_asset")
    assert trap in settled["errorMessage"]
    # Nothing that executes code was asked of the node for the unlisted contract (the reconciler may
    # poll receipts of other tests' records meanwhile; the scheme-level test proves no call at all).
    assert not set(asked) & {"eth_call", "eth_estimateGas", "eth_getCode", "eth_sendRawTransaction"}, asked
    assert await signers_state(evm_devnet) == before
    assert await stack.ledger_record(payment_id(evm_devnet, body)) is None


async def second_usdc(info: dict, holder: str, amount: int) -> str:
    """Another copy of the devnet's EIP-3009 token at a new address, `amount` minted to `holder`."""
    artifacts = json.loads(Path(info["artifacts"]).read_text())
    [compiled] = [c["DevnetUSDC"] for c in artifacts["contracts"].values() if "DevnetUSDC" in c]
    minter = Account.create()
    key = "0x" + bytes(minter.key).hex()
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        await rpc.call("anvil_setBalance", minter.address, hex(10**18))
        created = await rpc.wait_receipt(
            await rpc.send(key, None, "0x" + compiled["evm"]["bytecode"]["object"])
        )
        token = to_checksum_address(created["contractAddress"])
        for data in (
            calldata("initialize(address)", ["address"], [minter.address]),
            calldata("mint(address,uint256)", ["address", "uint256"], [holder, amount]),
        ):
            assert (await rpc.wait_receipt(await rpc.send(key, token, data)))["status"] == "0x1"
    return token


async def test_any_token_opt_in_settles_eip3009_tokens_only(stack, evm_devnet):
    payer = await funded_payer(evm_devnet, 0)
    pay_to = Account.create().address
    token = await second_usdc(evm_devnet, payer.address, 5_000)
    owner = Account.create()
    wallet = await deploy_smart_wallet(evm_devnet, owner.address, usdc=0)  # code, but no EIP-3009 views
    usdc_domain = {"name": "USDC", "version": "2"}

    def body_for(asset: str, domain: dict) -> dict:
        request = payment_request(
            evm_devnet,
            payer,
            pay_to,
            1_000,
            requirements={"asset": asset, "extra": domain},
            token=asset,
            **domain,
        )
        return msgspec.to_builtins(request)

    async with serve_evm(stack, evm_devnet):  # the default: an allowlist of the devnet's USDC
        verified, settled = await verify_and_settle(stack, body_for(token, usdc_domain))
        assert_refused(verified, settled, "unsupported_asset")
    before = await signers_state(evm_devnet)
    async with serve_evm(stack, evm_devnet, any_asset=True):
        verified, settled = await verify_and_settle(stack, body_for(wallet, usdc_domain))
        assert_refused(verified, settled, "unsupported_asset")
        assert "authorizationState" in settled["errorMessage"]
        verified, settled = await verify_and_settle(stack, body_for(token, TRAP_DOMAIN))
        assert_refused(verified, settled, "token_domain_mismatch")
        assert await signers_state(evm_devnet) == before
        verified, settled = await verify_and_settle(stack, body_for(token, usdc_domain))
    assert verified == {"isValid": True, "payer": payer.address}
    assert settled["success"] is True, settled
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        paid = await rpc.eth_call(token, calldata("balanceOf(address)", ["address"], [pay_to]))
    assert int.from_bytes(paid, "big") == 1_000


async def test_gas_price_zero_trick_is_refused_before_broadcast(stack, evm_devnet, trap):
    payer = await funded_payer(evm_devnet, 0)
    pay_to = Account.create().address
    body = payment_body(evm_devnet, payer, pay_to, 1_000, token=trap)
    authorization = body["paymentPayload"]["payload"]["authorization"]
    signature = bytes.fromhex(body["paymentPayload"]["payload"]["signature"][2:])
    transfer = calldata(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
        ["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32", "bytes32"],
        [
            authorization["from"],
            authorization["to"],
            int(authorization["value"]),
            int(authorization["validAfter"]),
            int(authorization["validBefore"]),
            bytes.fromhex(authorization["nonce"][2:]),
            signature[64],
            signature[:32],
            signature[32:64],
        ],
    )
    signer = evm_devnet["facilitators"][0]["address"]
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        # The trick is real: estimated without fee fields (gas price 0) the transfer passes...
        assert int(await rpc.call("eth_estimateGas", {"from": signer, "to": trap, "data": transfer}), 16) > 0
        # ...and with the fees a real transaction carries it reverts.
        tip = await rpc.call("eth_maxPriorityFeePerGas")
        with pytest.raises(RpcError, match="only free calls succeed"):
            await rpc.call(
                "eth_estimateGas",
                {
                    "from": signer,
                    "to": trap,
                    "data": transfer,
                    "maxFeePerGas": hex(10**10),
                    "maxPriorityFeePerGas": tip,
                },
            )
    before = await signers_state(evm_devnet)
    async with serve_evm(stack, evm_devnet, any_asset=True):
        verified, settled = await verify_and_settle(stack, body)
    assert_refused(verified, settled, "simulation_failed")
    assert "only free calls succeed" in verified["invalidMessage"]
    assert "only free calls succeed" in settled["errorMessage"]
    assert await signers_state(evm_devnet) == before
    assert await stack.ledger_record(payment_id(evm_devnet, body)) is None


async def test_fee_ceiling_below_current_fees_refuses_without_broadcasting(stack, evm_devnet):
    payer = await funded_payer(evm_devnet, 10_000)
    pay_to = Account.create().address
    body = payment_body(evm_devnet, payer, pay_to, 2_000)
    before = await signers_state(evm_devnet)
    async with serve_evm(stack, evm_devnet, max_settle_cost_wei=1_000):
        verified, settled = await verify_and_settle(stack, body)
    assert verified["isValid"] is True  # the payment is fine; paying for it now is not
    assert_refused(None, settled, "fee_too_high")
    assert "above the ceiling 1000" in settled["errorMessage"]
    assert await signers_state(evm_devnet) == before
    assert await usdc_balance(evm_devnet, pay_to) == 0
    assert await stack.ledger_record(payment_id(evm_devnet, body)) is None  # released: retryable
    # Retryable: with a ceiling the fees fit under, the same payment settles.
    async with serve_evm(stack, evm_devnet):
        _, retried = await verify_and_settle(stack, body)
    assert retried["success"] is True, retried
    assert await usdc_balance(evm_devnet, pay_to) == 2_000
