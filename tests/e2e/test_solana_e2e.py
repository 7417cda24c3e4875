"""End to end on solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1 (the Solana devnet) with the official x402 SDK.

Resource server: FastAPI + the SDK's payment middleware + its `exact` SVM server scheme (which adds
our fee payer from /supported and a recent blockhash from the devnet), with our gateway as
facilitator. Client: the SDK's x402HttpxClient with its SVM client scheme and a solders keypair,
reading the mint and blockhash from the devnet through solana-py. PAYMENT-RESPONSE names a
confirmed transaction and the balances move by exactly the price.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from solders.keypair import Keypair
from x402 import x402Client, x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.clients import x402HttpxClient
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.http.utils import decode_payment_required_header, decode_payment_response_header
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmServerScheme, register_exact_svm_client
from x402fac.bus import free_port
from x402fac.devnet.solana import NETWORK, USDC_MINT

from tests.fixtures.solana import USDC_UNIT

PRICE = "$0.001"
PRICE_UNITS = 1_000  # USDC has 6 decimals


class ResourceServer:
    """The seller's app on its own thread and loop (the SDK's resource server makes blocking calls)."""

    def __init__(self, gateway_url: str, rpc_url: str, pay_to: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_url = gateway_url
        self.rpc_url = rpc_url
        self.pay_to = pay_to
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def build_app(self) -> FastAPI:
        server = x402ResourceServer(
            HTTPFacilitatorClient(FacilitatorConfig(url=self.gateway_url, timeout=45.0))
        )
        server.register(NETWORK, ExactSvmServerScheme(rpc_url=self.rpc_url))
        routes = {
            "GET /weather": {
                "accepts": {
                    "scheme": "exact",
                    "network": NETWORK,
                    "price": PRICE,
                    "payTo": self.pay_to,
                    "maxTimeoutSeconds": 60,
                },
                "description": "today's weather",
            }
        }
        app = FastAPI()
        app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)

        @app.get("/weather")
        async def weather() -> dict:
            return {"forecast": "sunny"}

        return app

    def start(self) -> None:
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="solana-resource-server", daemon=True)
        self.thread.start()

    async def wait_started(self) -> None:
        for _ in range(200):
            if self.server is not None and self.server.started:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("resource server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


@pytest.fixture
async def seller(stack, solana_worker, solana_devnet):
    pay_to = Keypair().pubkey()
    solana_devnet.fund(pay_to)  # the seller's USDC account exists
    # The SDK's resource server reads /supported when its middleware starts: the worker must be listed.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        for _ in range(100):
            kinds = (await http.get("/supported")).json()["kinds"]
            if any(k["network"] == NETWORK for k in kinds):
                break
            await asyncio.sleep(0.1)
    resource = ResourceServer(stack.gateway_url, solana_devnet.url, str(pay_to))
    resource.start()
    await resource.wait_started()
    yield resource, pay_to
    await asyncio.to_thread(resource.stop)


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

    async with httpx.AsyncClient(timeout=60) as plain:
        unpaid = await plain.get(f"{resource.url}/weather")
    assert unpaid.status_code == 402
    [offer] = decode_payment_required_header(unpaid.headers["PAYMENT-REQUIRED"]).accepts
    assert (offer.scheme, offer.network, offer.asset, offer.amount, offer.pay_to) == (
        "exact",
        NETWORK,
        str(USDC_MINT),
        str(PRICE_UNITS),
        str(pay_to),
    )
    assert offer.extra["feePayer"] == fee_payer

    paid = await buy(f"{resource.url}/weather", payer, solana_devnet.url)

    assert paid.status_code == 200, paid.text
    assert paid.json() == {"forecast": "sunny"}
    settlement = decode_payment_response_header(paid.headers["PAYMENT-RESPONSE"])
    assert settlement.success is True
    assert settlement.network == NETWORK
    assert settlement.payer == str(payer.pubkey())

    landed = solana_devnet.chain.history[settlement.transaction]
    assert landed.execution.err is None
    assert str(landed.transaction.message.account_keys[0]) == fee_payer
    assert solana_devnet.chain.signature_status(settlement.transaction)["confirmationStatus"] != "processed"
    assert solana_devnet.usdc_balance(payer.pubkey()) == 5 * USDC_UNIT - PRICE_UNITS
    assert solana_devnet.usdc_balance(pay_to) == PRICE_UNITS
