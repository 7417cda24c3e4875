"""End to end on nano:devnet with the official x402 SDK on both sides.

Resource server: FastAPI + the SDK's payment middleware + x402-nano-exact, pointed at our gateway.
Client: the SDK's x402HttpxClient with our Nano client scheme. The payment is a real send block on the devnet;
the answer's PAYMENT-RESPONSE names its confirmed hash and the balances move by exactly the price.
"""

import pytest
from x402 import x402Client
from x402.http.clients import x402HttpxClient
from x402_nano_exact import ExactNanoServerScheme

from tests.fixtures.nano import XNO, NanoAccount
from tests.fixtures.paywall import PaidResource, offered, route_offer, settlement_of
from x402fac.nano import xno_to_raw
from x402fac.nano.x402_client import ExactNanoClientScheme, nano_spend_control

PRICE_XNO = "0.001"


@pytest.fixture
async def seller(stack, nano_worker):
    pay_to = NanoAccount.generate()
    accepts = route_offer("exact", "nano:devnet", PRICE_XNO, pay_to.address)
    resource = PaidResource(
        stack.gateway_url,
        "nano:devnet",
        ExactNanoServerScheme(),
        "/premium",
        accepts,
        "premium content",
        {"content": "the good stuff"},
    )
    async with resource:
        yield resource, pay_to


async def test_pay_for_a_resource_in_nano(seller, nano_rpc, nano_devnet, nano_funded_account):
    resource, pay_to = seller
    payer = await nano_funded_account(XNO)
    price = xno_to_raw(PRICE_XNO)

    client = x402Client().register(
        "nano:devnet", ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url)
    )
    client.set_spend_controls({"allowed_assets": [nano_spend_control(max_raw=price)]})
    offer = await offered(f"{resource.url}/premium")
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

    settlement = settlement_of(paid, {"content": "the good stuff"})
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
