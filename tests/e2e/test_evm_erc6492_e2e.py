"""End to end: a smart wallet that does not exist yet pays with the official x402 SDK.

The SDK's client signs with a counterfactual-wallet signer (the owner's EIP-712 signature wrapped for
ERC-6492 with the devnet factory's deployment call, as smart-wallet SDKs sign before deployment); the
resource server is FastAPI with the SDK's payment middleware and `exact` EVM server scheme, with our
gateway as facilitator. The chain is read back: the wallet was deployed once, by our settlement, the
payee holds exactly the price, and a second purchase from the now deployed wallet is a plain transfer.
"""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account
from x402 import x402Client
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client

from tests.fixtures.evm import serve_evm, usdc_balance
from tests.fixtures.evm_wallets import code_of, counterfactual_wallet, deployments_of, wallet_signer
from tests.fixtures.paywall import PaidResource, route_offer, settlement_of
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.worker_evm.erc6492 import MULTICALL3

NETWORK = "eip155:84532"
PRICE = "$0.002"
PRICE_UNITS = 2_000


@pytest.fixture
async def seller(stack, evm_devnet):
    pay_to = Account.create().address
    accepts = route_offer("exact", NETWORK, PRICE, pay_to)
    resource = PaidResource(
        stack.gateway_url, NETWORK, ExactEvmServerScheme(), "/report", accepts, "a report", {"report": "ok"}
    )
    async with serve_evm(stack, evm_devnet), resource:
        yield resource, pay_to


async def test_a_counterfactual_wallet_pays_and_is_deployed_once(seller, evm_devnet) -> None:
    resource, pay_to = seller
    wallet = await counterfactual_wallet(evm_devnet, 10_000)
    assert await code_of(evm_devnet, wallet.address) == "0x"
    client = register_exact_evm_client(x402Client(), wallet_signer(wallet), networks=NETWORK)

    transactions = []
    async with httpx.AsyncClient(transport=x402AsyncTransport(client), timeout=60) as http:
        for _ in range(2):
            paid = await http.get(f"{resource.url}/report")
            settlement = settlement_of(paid, {"report": "ok"})
            assert settlement.payer == wallet.address
            transactions.append(settlement.transaction)

    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        first, second = [await rpc.call("eth_getTransactionReceipt", tx) for tx in transactions]
    assert first["status"] == second["status"] == "0x1"
    assert first["to"].lower() == MULTICALL3.lower()  # deployment and payment in one transaction
    assert second["to"].lower() == evm_devnet["usdc"]["address"].lower()  # deployed: a plain transfer
    assert await code_of(evm_devnet, wallet.address) != "0x"
    assert await deployments_of(evm_devnet, wallet.address) == 1
    assert await usdc_balance(evm_devnet, pay_to) == 2 * PRICE_UNITS
    assert await usdc_balance(evm_devnet, wallet.address) == 10_000 - 2 * PRICE_UNITS
