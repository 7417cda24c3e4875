"""End to end on eip155:84532 (the EVM devnet) with the official x402 SDK on both sides.

Resource server: FastAPI + the SDK's payment middleware + its `exact` EVM server scheme, with our
gateway as facilitator. Client: the SDK's x402HttpxClient with an eth_account signer and the SDK's
default asset for Base Sepolia (the devnet's USDC sits at that address). PAYMENT-RESPONSE names a
mined transaction and the balances move by exactly the price; the same PAYMENT-SIGNATURE replayed on
another request buys nothing (one payment, one success).
"""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account
from x402 import x402Client
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client

from tests.fixtures.evm import funded_payer, mined_calling, serve_evm, usdc_balance
from tests.fixtures.paywall import PaidResource, offered, route_offer, settlement_of

NETWORK = "eip155:84532"
PRICE = "$0.001"
PRICE_UNITS = 1_000  # USDC has 6 decimals


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The wire under the SDK's payment transport: keeps every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await super().handle_async_request(request)


@pytest.fixture
async def seller(stack, evm_devnet):
    pay_to = Account.create().address
    accepts = route_offer("exact", NETWORK, PRICE, pay_to)
    resource = PaidResource(
        stack.gateway_url,
        NETWORK,
        ExactEvmServerScheme(),
        "/weather",
        accepts,
        "today's weather",
        {"forecast": "sunny"},
    )
    async with serve_evm(stack, evm_devnet), resource:
        yield resource, pay_to


async def test_pay_for_a_resource_in_usdc_on_base_sepolia_devnet(seller, evm_devnet) -> None:
    resource, pay_to = seller
    payer = await funded_payer(evm_devnet, 50_000)

    offer = await offered(f"{resource.url}/weather")
    assert (offer.scheme, offer.network, offer.asset, offer.amount, offer.pay_to) == (
        "exact",
        NETWORK,
        evm_devnet["usdc"]["address"],
        str(PRICE_UNITS),
        pay_to,
    )
    assert offer.extra["name"] == "USDC" and offer.extra["version"] == "2"

    client = register_exact_evm_client(x402Client(), payer, networks=NETWORK)
    wire = RecordingTransport()
    async with httpx.AsyncClient(transport=x402AsyncTransport(client, wire), timeout=60) as http:
        paid = await http.get(f"{resource.url}/weather")

    settlement = settlement_of(paid, {"forecast": "sunny"})
    [signature_header] = [
        r.headers["PAYMENT-SIGNATURE"] for r in wire.sent if "PAYMENT-SIGNATURE" in r.headers
    ]
    assert settlement.network == NETWORK
    assert settlement.payer == payer.address

    tx = await mined_calling(evm_devnet, settlement.transaction, evm_devnet["usdc"]["address"])
    assert tx["from"] in [f["address"].lower() for f in evm_devnet["facilitators"]]
    assert await usdc_balance(evm_devnet, payer.address) == 50_000 - PRICE_UNITS
    assert await usdc_balance(evm_devnet, pay_to) == PRICE_UNITS

    # A client replaying the paid request's header gets no second response, and nothing moves.
    async with httpx.AsyncClient(timeout=60) as plain:
        replayed = await plain.get(f"{resource.url}/weather", headers={"PAYMENT-SIGNATURE": signature_header})
    assert replayed.status_code == 402, replayed.text
    assert "forecast" not in replayed.text
    assert await usdc_balance(evm_devnet, pay_to) == PRICE_UNITS
