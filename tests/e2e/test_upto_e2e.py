"""End to end: a usage-priced resource paid with `upto`, the official x402 SDK on both sides.

Resource server: FastAPI with the SDK's payment middleware and its `upto` EVM server scheme, offering
up to $0.05 in USDC, with our gateway as facilitator (the scheme copies our /supported
`extra.facilitatorAddress` into the offer); once served, the route charges what was used through the
SDK's settlement override. Client: the SDK's httpx transport with its `upto` client scheme and an
eth_account payer that approved Permit2 for USDC. The chain is read back: the payee received exactly
the charge, less than the maximum, in one transaction through the x402 upto proxy, sent by the
facilitator the payer bound. The same with the `@x402/evm` TypeScript client (its UptoEvmScheme).
"""

from __future__ import annotations

import asyncio

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from x402 import x402Client
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.mechanisms.evm.upto import UptoEvmClientScheme, UptoEvmServerScheme

from bench.targets import ensure_ts_installed
from tests.fixtures.evm import mined_calling, usdc_balance
from tests.fixtures.paywall import PaidResource, offered, route_offer, settlement_of
from tests.fixtures.ts_client import ts_pay
from tests.fixtures.upto import facilitator_of, serve_evm_schemes, upto_payer
from x402fac.worker_evm.permit2 import UPTO_PROXY_ADDRESS

NETWORK = "eip155:84532"
MAXIMUM = 50_000  # $0.05 of 6-decimal USDC
CHARGE = 12_345  # what the request used
HELD = 10**6  # the payer's USDC


async def assert_charged(
    info: dict, transaction: str, payer: LocalAccount, pay_to: str, charged: int
) -> dict:
    """`transaction` went through the x402 upto proxy and moved exactly `charged` USDC from `payer`
    to `pay_to`; the transaction."""
    tx = await mined_calling(info, transaction, UPTO_PROXY_ADDRESS)
    assert await usdc_balance(info, pay_to) == charged
    assert await usdc_balance(info, payer.address) == HELD - charged
    return tx


async def test_the_server_charges_what_was_used_up_to_the_maximum(stack, evm_devnet) -> None:
    payer, pay_to = await upto_payer(evm_devnet, HELD), Account.create().address
    usdc = evm_devnet["usdc"]["address"]
    resource = PaidResource(
        stack.gateway_url,
        NETWORK,
        UptoEvmServerScheme(),
        "/completion",
        route_offer("upto", NETWORK, "$0.05", pay_to, 120),
        "a completion priced by tokens",
        {"text": "hello"},
        charge=str(CHARGE),
    )
    async with serve_evm_schemes(stack, evm_devnet), resource:
        offer = await offered(f"{resource.url}/completion")
        assert (offer.scheme, offer.amount, offer.asset) == ("upto", str(MAXIMUM), usdc)
        assert offer.extra["facilitatorAddress"] == facilitator_of(evm_devnet)

        client = x402Client().register(NETWORK, UptoEvmClientScheme(EthAccountSigner(payer)))
        async with httpx.AsyncClient(transport=x402AsyncTransport(client), timeout=60) as http:
            paid = await http.get(f"{resource.url}/completion")

    settlement = settlement_of(paid, {"text": "hello"})
    assert settlement.payer == payer.address
    tx = await assert_charged(evm_devnet, settlement.transaction, payer, pay_to, CHARGE)
    assert tx["from"].lower() == facilitator_of(evm_devnet).lower()


async def test_the_typescript_client_pays_upto_and_is_charged_less(stack, evm_devnet) -> None:
    await asyncio.to_thread(ensure_ts_installed)
    payer, pay_to = await upto_payer(evm_devnet, HELD), Account.create().address
    usdc = evm_devnet["usdc"]["address"]
    accepts = route_offer("upto", NETWORK, "$0.05", pay_to, 120)
    resource = PaidResource(
        stack.gateway_url, NETWORK, UptoEvmServerScheme(), "/tokens", accepts, "usage", {"n": 7}, charge="25%"
    )
    async with serve_evm_schemes(stack, evm_devnet), resource:
        result = await ts_pay(f"{resource.url}/tokens", payer, usdc, scheme="upto", max_amount=MAXIMUM)
    assert result["status"] == 200, result
    assert result["accepted"]["scheme"] == "upto" and result["accepted"]["amount"] == str(MAXIMUM)
    settlement = result["paymentResponse"]
    assert settlement["success"] is True and settlement["payer"] == payer.address
    await assert_charged(evm_devnet, settlement["transaction"], payer, pay_to, MAXIMUM // 4)
