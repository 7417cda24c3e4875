"""End to end on solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1 (the Solana devnet) with the official x402 SDK.

Resource server: FastAPI + the SDK's payment middleware + its `exact` SVM server scheme (which adds
our fee payer from /supported and a recent blockhash from the devnet), with our gateway as
facilitator. Client: the SDK's x402HttpxClient with its SVM client scheme and a solders keypair,
reading the mint and blockhash from the devnet through solana-py. PAYMENT-RESPONSE names a
confirmed transaction and the balances move by exactly the price.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from solders.keypair import Keypair
from x402 import x402Client
from x402.http.clients import x402HttpxClient
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmServerScheme, register_exact_svm_client

from tests.fixtures.paywall import PaidResource, offered, route_offer, settlement_of
from tests.fixtures.solana import USDC_UNIT
from x402fac.devnet.solana import NETWORK, USDC_MINT

PRICE = "$0.001"
PRICE_UNITS = 1_000  # USDC has 6 decimals


@pytest.fixture
async def seller(stack, solana_worker, solana_devnet):
    pay_to = Keypair().pubkey()
    solana_devnet.fund(pay_to)  # the seller's USDC account exists
    accepts = route_offer("exact", NETWORK, PRICE, str(pay_to))
    resource = PaidResource(
        stack.gateway_url,
        NETWORK,
        ExactSvmServerScheme(rpc_url=solana_devnet.url),
        "/weather",
        accepts,
        "today's weather",
        {"forecast": "sunny"},
    )
    async with resource:
        yield resource, pay_to


async def buy(url: str, payer: Keypair, rpc_url: str) -> httpx.Response:
    """The SDK client pays from its own thread: its SVM scheme reads the chain with blocking calls,
    and the devnet serves on this test's loop."""

    async def pay() -> httpx.Response:
        client = register_exact_svm_client(
            x402Client(), KeypairSigner(payer), networks=NETWORK, rpc_url=rpc_url
        )
        async with x402HttpxClient(client, timeout=60) as http:
            return await http.get(url)

    return await asyncio.to_thread(asyncio.run, pay())


async def test_pay_for_a_resource_in_usdc_on_solana_devnet(seller, solana_devnet, stack) -> None:
    resource, pay_to = seller
    payer = solana_devnet.new_payer(5 * USDC_UNIT)
    fee_payer = str(solana_devnet.fee_payers[0].pubkey())

    offer = await offered(f"{resource.url}/weather")
    assert (offer.scheme, offer.network, offer.asset, offer.amount, offer.pay_to) == (
        "exact",
        NETWORK,
        str(USDC_MINT),
        str(PRICE_UNITS),
        str(pay_to),
    )
    assert offer.extra["feePayer"] == fee_payer

    paid = await buy(f"{resource.url}/weather", payer, solana_devnet.url)

    settlement = settlement_of(paid, {"forecast": "sunny"})
    assert settlement.network == NETWORK
    assert settlement.payer == str(payer.pubkey())

    landed = solana_devnet.chain.history[settlement.transaction]
    assert landed.execution.err is None
    assert str(landed.transaction.message.account_keys[0]) == fee_payer
    assert solana_devnet.chain.signature_status(settlement.transaction)["confirmationStatus"] != "processed"
    assert solana_devnet.usdc_balance(payer.pubkey()) == 5 * USDC_UNIT - PRICE_UNITS
    assert solana_devnet.usdc_balance(pay_to) == PRICE_UNITS
