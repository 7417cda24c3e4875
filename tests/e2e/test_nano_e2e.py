"""End to end on nano:devnet with the official x402 SDK on both sides.

Resource server: FastAPI + the SDK's payment middleware + x402-nano-exact, pointed at our gateway.
Client: the SDK's x402HttpxClient with our Nano client scheme. The payment is a real send block on the devnet;
the answer's PAYMENT-RESPONSE names its confirmed hash and the balances move by exactly the price.
"""

import asyncio
import threading

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from x402 import x402Client, x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.clients import x402HttpxClient
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.http.utils import decode_payment_required_header, decode_payment_response_header
from x402_nano_exact import ExactNanoServerScheme
from x402fac.bus import free_port
from x402fac.nano import xno_to_raw
from x402fac.nano.x402_client import ExactNanoClientScheme, nano_spend_control

from tests.fixtures.nano import XNO, NanoAccount

PRICE_XNO = "0.001"


class ResourceServer:
    """The seller's app on its own thread and loop: the SDK's resource server makes blocking calls
    (it fetches /supported synchronously), which must not stall the loop our gateway runs on."""

    def __init__(self, gateway_url: str, pay_to: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_url = gateway_url
        self.pay_to = pay_to
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def build_app(self) -> FastAPI:
        facilitator = HTTPFacilitatorClient(FacilitatorConfig(url=self.gateway_url, timeout=45.0))
        server = x402ResourceServer(facilitator)
        server.register("nano:devnet", ExactNanoServerScheme())
        routes = {
            "GET /premium": {
                "accepts": {
                    "scheme": "exact",
                    "network": "nano:devnet",
                    "price": PRICE_XNO,
                    "payTo": self.pay_to,
                    "maxTimeoutSeconds": 60,
                },
                "description": "premium content",
            }
        }
        app = FastAPI()
        app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)

        @app.get("/premium")
        async def premium() -> dict:
            return {"content": "the good stuff"}

        return app

    def start(self) -> None:
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="resource-server", daemon=True)
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
async def seller(stack, nano_worker):
    pay_to = NanoAccount.generate()
    # The SDK's resource server reads /supported when its middleware is built: the worker must be listed.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        for _ in range(100):
            kinds = (await http.get("/supported")).json()["kinds"]
            if any(k["network"] == "nano:devnet" for k in kinds):
                break
            await asyncio.sleep(0.1)
    resource = ResourceServer(stack.gateway_url, pay_to.address)
    resource.start()
    await resource.wait_started()
    yield resource, pay_to
    await asyncio.to_thread(resource.stop)


async def test_pay_for_a_resource_in_nano(seller, nano_rpc, nano_devnet, nano_funded_account):
    resource, pay_to = seller
    payer = await nano_funded_account(XNO)
    price = xno_to_raw(PRICE_XNO)

    client = x402Client().register(
        "nano:devnet", ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url)
    )
    client.set_spend_controls({"allowed_assets": [nano_spend_control(max_raw=price)]})
    async with httpx.AsyncClient(timeout=60) as plain:
        unpaid = await plain.get(f"{resource.url}/premium")
    assert unpaid.status_code == 402
    required = decode_payment_required_header(unpaid.headers["PAYMENT-REQUIRED"])
    [offer] = required.accepts
    assert (offer.scheme, offer.network, offer.asset, offer.amount, offer.pay_to) == (
        "exact",
        "nano:devnet",
        "XNO",
        str(price),
        pay_to.address,
    )
    assert offer.extra == {"work": "required", "workThreshold": nano_devnet.info["workThresholds"]["send"]}

    async with x402HttpxClient(client, timeout=60) as http:
        paid = await http.get(f"{resource.url}/premium")

    assert paid.status_code == 200, paid.text
    assert paid.json() == {"content": "the good stuff"}
    settlement = decode_payment_response_header(paid.headers["PAYMENT-RESPONSE"])
    assert settlement.success is True
    assert settlement.network == "nano:devnet"
    assert settlement.payer == payer.address

    block = await nano_rpc.call("block_info", hash=settlement.transaction, json_block="true")
    assert block["confirmed"] == "true"
    assert block["subtype"] == "send"
    assert block["block_account"] == payer.address
    assert block["contents"]["link_as_account"] == pay_to.address
    assert block["amount"] == str(price)

    state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
    assert int(state["confirmed_balance"]) == XNO - price
    receivable = await nano_rpc.call("receivable", account=pay_to.address, threshold="1")
    assert receivable["blocks"] == {settlement.transaction: str(price)}
    assert nano_devnet.devnet.process_requests[settlement.transaction] == 1
