"""Permit2 `exact` from an ERC-6492 counterfactual wallet, the payload signed by the official SDK client
with a signer that wraps for ERC-6492: verify authenticates by simulating the factory call and changes
nothing; settle deploys the wallet and pays through the exact proxy in one transaction, once; a copy
after it answers `duplicate_settlement`; a wrapper around a stranger's signature, a malformed wrapper
or an unlisted factory leave no ledger record, no transaction and no wallet."""

from __future__ import annotations

import httpx
from eth_account import Account
from x402.mechanisms.evm.exact.permit2_utils import _sign_permit2_authorization, create_permit2_payload
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.mechanisms.evm.types import ExactPermit2Payload

from tests.fixtures.evm import serve_evm, token_balance
from tests.fixtures.evm_wallets import Wallet, code_of, counterfactual_wallet, deployments_of, wallet_signer
from tests.fixtures.permit2 import (
    TOKEN_UNIT,
    permit2_payment_id,
    permit2_requirements,
    sdk_requirements,
)
from x402fac.devnet.evm import ERC20_ADDRESS, PERMIT2_ADDRESS, faucet
from x402fac.devnet.evm.rpc import DevnetRpc, calldata
from x402fac.devnet.evm.wallets import wrap_signature
from x402fac.worker_evm.erc6492 import MULTICALL3

TOKENS = frozenset({ERC20_ADDRESS.lower()})
PRICE = 3 * TOKEN_UNIT // 100
HELD = TOKEN_UNIT


async def approved_wallet(info: dict) -> Wallet:
    """A counterfactual wallet (no code) holding `HELD` of the plain ERC-20 with Permit2 approved for it.
    The allowance is set by impersonating the address: how a real wallet got it does not matter here."""
    wallet = await counterfactual_wallet(info, 0)
    await faucet(info, wallet.address, HELD, token=ERC20_ADDRESS)
    approve = calldata("approve(address,uint256)", ["address", "uint256"], [PERMIT2_ADDRESS, 2**256 - 1])
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        await rpc.call("anvil_setBalance", wallet.address, hex(10**18))
        await rpc.call("anvil_impersonateAccount", wallet.address)
        tx = await rpc.call(
            "eth_sendTransaction", {"from": wallet.address, "to": ERC20_ADDRESS, "data": approve}
        )
        await rpc.wait_receipt(tx, timeout=60)
        await rpc.call("anvil_stopImpersonatingAccount", wallet.address)
        # CREATE2 refuses an address with a nonce: the approval's is taken back, its ETH too.
        await rpc.call("anvil_setNonce", wallet.address, "0x0")
        await rpc.call("anvil_setBalance", wallet.address, "0x0")
    assert await code_of(info, wallet.address) == "0x"
    return wallet


def wallet_body(info: dict, wallet: Wallet, pay_to: str, *, signature=None) -> dict:
    """The SDK client's Permit2 payload from `wallet` (signed by its owner, wrapped for ERC-6492), or
    carrying `signature(authorization, requirements)` instead."""
    wire = permit2_requirements(info, ERC20_ADDRESS, pay_to, PRICE)
    payload = create_permit2_payload(wallet_signer(wallet), sdk_requirements(wire))
    if signature is not None:
        parsed = ExactPermit2Payload.from_dict(payload)
        payload["signature"] = "0x" + signature(parsed.permit2_authorization, sdk_requirements(wire)).hex()
    return {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": wire, "payload": payload},
        "paymentRequirements": wire,
    }


async def facilitator_nonces(info: dict) -> list[int]:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        return [
            int(await rpc.call("eth_getTransactionCount", f["address"], "pending"), 16)
            for f in info["facilitators"]
        ]


async def post(stack, path: str, body: dict) -> dict:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        return (await http.post(path, json=body)).json()


async def test_undeployed_wallet_pays_by_permit2_deployed_once_by_the_settlement(stack, evm_devnet):
    info = evm_devnet
    wallet = await approved_wallet(info)
    pay_to = Account.create().address
    body = wallet_body(info, wallet, pay_to)
    assert body["paymentPayload"]["payload"]["signature"].endswith("6492" * 16)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        before = await facilitator_nonces(info)
        verified = await post(stack, "/verify", body)
        assert verified["isValid"] is True and verified["payer"] == wallet.address, verified
        # verify simulated the deployment: nothing deployed, nothing sent
        assert await code_of(info, wallet.address) == "0x"
        assert await facilitator_nonces(info) == before
        settled = await post(stack, "/settle", body)
        assert settled["success"] is True and settled["payer"] == wallet.address, settled
        copy = await post(stack, "/settle", body)
    assert copy["success"] is False and copy["errorReason"] == "duplicate_settlement", copy
    assert copy["transaction"] == settled["transaction"]
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settled["transaction"])
    # one transaction: Multicall3 ran the factory, then the exact proxy
    assert receipt["status"] == "0x1" and receipt["to"].lower() == MULTICALL3.lower()
    assert sum(before) + 1 == sum(await facilitator_nonces(info))
    assert await code_of(info, wallet.address) != "0x"
    assert await deployments_of(info, wallet.address) == 1
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == PRICE
    assert await token_balance(info, ERC20_ADDRESS, wallet.address) == HELD - PRICE
    record = await stack.ledger_record(permit2_payment_id(info, body))
    assert record is not None and record.transaction == settled["transaction"]


async def test_deployed_wallet_pays_by_permit2_without_a_second_deployment(stack, evm_devnet):
    info = evm_devnet
    wallet = await approved_wallet(info)
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        first = await post(stack, "/settle", wallet_body(info, wallet, Account.create().address))
        assert first["success"] is True, first
        pay_to = Account.create().address
        second = await post(stack, "/settle", wallet_body(info, wallet, pay_to))
    assert second["success"] is True, second
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", second["transaction"])
    assert receipt["to"].lower() == info["permit2"]["exactProxy"].lower()
    assert await deployments_of(info, wallet.address) == 1
    assert await token_balance(info, ERC20_ADDRESS, pay_to) == PRICE


async def test_forged_and_malformed_wrappers_leave_no_state(stack, evm_devnet):
    """A stranger wraps its own signature for the wallet, garbage, or names a factory not allowed."""
    info = evm_devnet
    wallet = await approved_wallet(info)
    pay_to = Account.create().address

    def stranger_wrapped(authorization, requirements) -> bytes:
        """The stranger signs the wallet's very authorization and wraps it with the wallet's factory."""
        inner = _sign_permit2_authorization(EthAccountSigner(Account.create()), authorization, requirements)
        return wallet.wrap(bytes.fromhex(inner.removeprefix("0x")))

    def fixed(signature: bytes):
        return lambda authorization, requirements: signature

    unlisted = wrap_signature(Account.create().address, wallet.factory_calldata, b"\x01" * 65)
    cases = [
        (stranger_wrapped, "invalid_permit2_signature"),
        (fixed(wallet.wrap(b"\x01" * 65)), "invalid_permit2_signature"),
        (fixed(bytes(31) + bytes.fromhex("6492" * 16)), "invalid_erc6492_wrapper"),
        (fixed(unlisted), "eip6492_factory_not_allowed"),
    ]
    async with serve_evm(stack, info, allowed_assets=TOKENS):
        before = await facilitator_nonces(info)
        for signature, reason in cases:
            body = wallet_body(info, wallet, pay_to, signature=signature)
            verified = await post(stack, "/verify", body)
            assert verified["isValid"] is False and verified["invalidReason"] == reason, (reason, verified)
            settled = await post(stack, "/settle", body)
            assert settled["success"] is False and settled["errorReason"] == reason, (reason, settled)
            assert settled["transaction"] == ""
            assert await stack.ledger_record(permit2_payment_id(info, body)) is None
    assert await facilitator_nonces(info) == before
    assert await code_of(info, wallet.address) == "0x"
    assert await deployments_of(info, wallet.address) == 0
    assert await token_balance(info, ERC20_ADDRESS, wallet.address) == HELD
