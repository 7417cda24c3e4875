"""End to end on eip155:84532 (the EVM devnet) with the official x402 SDK on both sides.

Resource server: FastAPI + the SDK's payment middleware + its `exact` EVM server scheme, with our
gateway as facilitator. Client: the SDK's x402HttpxClient with an eth_account signer and the SDK's
default asset for Base Sepolia (the devnet's USDC sits at that address). PAYMENT-RESPONSE names a
mined transaction and the balances move by exactly the price.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import uvicorn
from eth_account import Account
from fastapi import FastAPI
from x402 import x402Client, x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.clients import x402HttpxClient
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.http.utils import decode_payment_required_header, decode_payment_response_header
from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client
from x402fac.bus import free_port
from x402fac.devnet.evm.rpc import DevnetRpc, calldata

from tests.fixtures.evm import funded_payer, serve_evm

NETWORK = "eip155:84532"
PRICE = "$0.001"
PRICE_UNITS = 1_000  # USDC has 6 decimals


class ResourceServer:
    """The seller's app on its own thread and loop (the SDK's resource server makes blocking calls)."""

    def __init__(self, gateway_url: str, pay_to: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_url = gateway_url
        self.pay_to = pay_to
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def build_app(self) -> FastAPI:
        server = x402ResourceServer(
            HTTPFacilitatorClient(FacilitatorConfig(url=self.gateway_url, timeout=45.0))
        )
        server.register(NETWORK, ExactEvmServerScheme())
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
        self.thread = threading.Thread(target=self.server.run, name="evm-resource-server", daemon=True)
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


async def usdc_balance(info: dict, address: str) -> int:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        result = await rpc.eth_call(
            info["usdc"]["address"], calldata("balanceOf(address)", ["address"], [address])
        )
    return int.from_bytes(result, "big")


@pytest.fixture
async def seller(stack, evm_devnet):
    pay_to = Account.create().address
    async with serve_evm(stack, evm_devnet):
        # The SDK's resource server reads /supported when its middleware starts: the worker must be listed.
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            for _ in range(100):
                kinds = (await http.get("/supported")).json()["kinds"]
                if any(k["network"] == NETWORK for k in kinds):
                    break
                await asyncio.sleep(0.1)
        resource = ResourceServer(stack.gateway_url, pay_to)
        resource.start()
        await resource.wait_started()
        yield resource, pay_to
        await asyncio.to_thread(resource.stop)


async def test_pay_for_a_resource_in_usdc_on_base_sepolia_devnet(seller, evm_devnet) -> None:
    resource, pay_to = seller
    payer = await funded_payer(evm_devnet, 50_000)

    async with httpx.AsyncClient(timeout=60) as plain:
        unpaid = await plain.get(f"{resource.url}/weather")
    assert unpaid.status_code == 402
    [offer] = decode_payment_required_header(unpaid.headers["PAYMENT-REQUIRED"]).accepts
    assert (offer.scheme, offer.network, offer.asset, offer.amount, offer.pay_to) == (
        "exact",
        NETWORK,
        evm_devnet["usdc"]["address"],
        str(PRICE_UNITS),
        pay_to,
    )
    assert offer.extra["name"] == "USDC" and offer.extra["version"] == "2"

    client = register_exact_evm_client(x402Client(), payer, networks=NETWORK)
    async with x402HttpxClient(client, timeout=60) as http:
        paid = await http.get(f"{resource.url}/weather")

    assert paid.status_code == 200, paid.text
    assert paid.json() == {"forecast": "sunny"}
    settlement = decode_payment_response_header(paid.headers["PAYMENT-RESPONSE"])
    assert settlement.success is True
    assert settlement.network == NETWORK
    assert settlement.payer == payer.address

    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settlement.transaction)
        tx = await rpc.call("eth_getTransactionByHash", settlement.transaction)
    assert receipt["status"] == "0x1"
    assert receipt["to"].lower() == evm_devnet["usdc"]["address"].lower()
    assert tx["from"] in [f["address"].lower() for f in evm_devnet["facilitators"]]
    assert await usdc_balance(evm_devnet, payer.address) == 50_000 - PRICE_UNITS
    assert await usdc_balance(evm_devnet, pay_to) == PRICE_UNITS
