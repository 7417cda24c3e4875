"""End to end on eip155:84532 with the official x402 SDK on both sides, paying by Permit2.

Resource server: the SDK's payment middleware and `exact` EVM server scheme (the demo's PaidResource),
with an offer in a devnet token and `extra.assetTransferMethod: permit2`, and our gateway as
facilitator. Client: the SDK's x402 httpx transport with an eth_account signer, as shipped. Paid:
a plain ERC-20 the payer approved Permit2 for, and an EIP-2612 token with no approval, paid through
the `eip2612GasSponsoring` extension the resource server declares, and a plain ERC-20 from a payer
with no ether and no approval, through `erc20ApprovalGasSponsoring`. Each time the chain is read back:
the payee received exactly the price, through the x402 exact proxy, in one transaction of ours (two
with the funding of the payer's approval).
"""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account
from x402 import x402Client
from x402.extensions.eip2612_gas_sponsoring import declare_eip2612_gas_sponsoring_extension
from x402.extensions.erc20_approval_gas_sponsoring import declare_erc20_approval_gas_sponsoring_extension
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm.exact import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSignerWithRPC

from tests.fixtures.evm import serve_evm
from tests.fixtures.paywall import PaidResource, offered, settlement_of
from tests.fixtures.permit2 import (
    NETWORK,
    PRICE,
    assert_paid_by_permit2,
    facilitator_transactions,
    permit2_payer,
    permit2_resource,
    without_ether,
)
from x402fac.devnet.evm import EIP2612_ADDRESS, ERC20_ADDRESS

TOKENS = frozenset({ERC20_ADDRESS.lower(), EIP2612_ADDRESS.lower()})


async def pay_and_check(
    info: dict, resource: PaidResource, payer, token: str, pay_to: str, ours: int = 1
) -> None:
    """Pays with the SDK client and reads the chain back; `ours`: transactions we send for it."""
    accepted = await offered(f"{resource.url}/data")
    assert (accepted.asset, accepted.amount, accepted.extra["assetTransferMethod"]) == (
        token,
        str(PRICE),
        "permit2",
    )

    client = register_exact_evm_client(
        x402Client(), EthAccountSignerWithRPC(payer, info["rpcUrl"]), networks=NETWORK
    )
    # The SDK pays only its default (USD) assets unless told otherwise: allow this token up to the price.
    client.set_spend_controls(
        {"allowed_assets": [{"network": NETWORK, "asset": token, "max_amount_per_payment": str(PRICE)}]}
    )
    before = await facilitator_transactions(info)
    async with httpx.AsyncClient(transport=x402AsyncTransport(client), timeout=60) as http:
        paid = await http.get(f"{resource.url}/data")
    settlement = settlement_of(paid, {"data": 42})
    assert settlement.payer == payer.address
    await assert_paid_by_permit2(info, settlement.transaction, payer, token, pay_to)
    assert await facilitator_transactions(info) == before + ours


@pytest.fixture
async def evm_worker(stack, evm_devnet):
    sponsoring = frozenset({"eip2612GasSponsoring", "erc20ApprovalGasSponsoring"})
    async with serve_evm(stack, evm_devnet, allowed_assets=TOKENS, gas_sponsoring=sponsoring):
        yield evm_devnet


async def test_sdk_client_pays_a_plain_erc20_by_permit2(stack, evm_worker) -> None:
    info = evm_worker
    pay_to = Account.create().address
    payer = await permit2_payer(info, ERC20_ADDRESS)
    async with permit2_resource(stack.gateway_url, info, ERC20_ADDRESS, pay_to) as resource:
        await pay_and_check(info, resource, payer, ERC20_ADDRESS, pay_to)


async def test_sdk_client_pays_with_eip2612_gas_sponsoring(stack, evm_worker) -> None:
    info = evm_worker
    pay_to = Account.create().address
    payer = await permit2_payer(info, EIP2612_ADDRESS, approved=False)  # no approval: the permit gives it
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        assert "eip2612GasSponsoring" in (await http.get("/supported")).json()["extensions"]
    extensions = declare_eip2612_gas_sponsoring_extension()
    async with permit2_resource(stack.gateway_url, info, EIP2612_ADDRESS, pay_to, extensions) as resource:
        await pay_and_check(info, resource, payer, EIP2612_ADDRESS, pay_to)


async def test_sdk_client_pays_with_erc20_approval_gas_sponsoring(stack, evm_worker) -> None:
    info = evm_worker
    pay_to = Account.create().address
    # No approval and no ether: the client signs an approve transaction and we pay its gas.
    payer = await without_ether(info, await permit2_payer(info, ERC20_ADDRESS, approved=False))
    extensions = declare_erc20_approval_gas_sponsoring_extension()
    async with permit2_resource(stack.gateway_url, info, ERC20_ADDRESS, pay_to, extensions) as resource:
        await pay_and_check(info, resource, payer, ERC20_ADDRESS, pay_to, ours=2)
