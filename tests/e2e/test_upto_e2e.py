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
from x402 import x402Client
from x402.http.clients.httpx import x402AsyncTransport
from x402.http.utils import decode_payment_required_header, decode_payment_response_header
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.mechanisms.evm.upto import UptoEvmClientScheme, UptoEvmServerScheme

from bench.targets import ensure_ts_installed
from tests.fixtures.paywall import PaidResource
from tests.fixtures.permit2 import token_balance
from tests.fixtures.ts_client import ts_pay
from tests.fixtures.upto import facilitator_of, serve_evm_schemes, upto_payer
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.worker_evm.permit2 import UPTO_PROXY_ADDRESS

NETWORK = "eip155:84532"
MAXIMUM = 50_000  # $0.05 of 6-decimal USDC
CHARGE = 12_345  # what the request used


async def test_the_server_charges_what_was_used_up_to_the_maximum(stack, evm_devnet) -> None:
    payer, pay_to = await upto_payer(evm_devnet, 10**6), Account.create().address
    usdc = evm_devnet["usdc"]["address"]
    accepts = {
        "scheme": "upto",
        "network": NETWORK,
        "price": "$0.05",
        "payTo": pay_to,
        "maxTimeoutSeconds": 120,
    }
    resource = PaidResource(
        stack.gateway_url,
        NETWORK,
        UptoEvmServerScheme(),
        "/completion",
        accepts,
        "a completion priced by tokens",
        {"text": "hello"},
        charge=str(CHARGE),
    )
    async with serve_evm_schemes(stack, evm_devnet), resource:
        async with httpx.AsyncClient(timeout=60) as plain:
            unpaid = await plain.get(f"{resource.url}/completion")
        assert unpaid.status_code == 402
        [offer] = decode_payment_required_header(unpaid.headers["PAYMENT-REQUIRED"]).accepts
        assert (offer.scheme, offer.amount, offer.asset) == ("upto", str(MAXIMUM), usdc)
        assert offer.extra["facilitatorAddress"] == facilitator_of(evm_devnet)

        client = x402Client().register(NETWORK, UptoEvmClientScheme(EthAccountSigner(payer)))
        async with httpx.AsyncClient(transport=x402AsyncTransport(client), timeout=60) as http:
            paid = await http.get(f"{resource.url}/completion")

    assert paid.status_code == 200, paid.text
    assert paid.json() == {"text": "hello"}
    settlement = decode_payment_response_header(paid.headers["PAYMENT-RESPONSE"])
    assert settlement.success is True and settlement.payer == payer.address
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settlement.transaction)
        tx = await rpc.call("eth_getTransactionByHash", settlement.transaction)
    assert receipt["status"] == "0x1" and receipt["to"].lower() == UPTO_PROXY_ADDRESS.lower()
    assert tx["from"].lower() == facilitator_of(evm_devnet).lower()
    assert await token_balance(evm_devnet, usdc, pay_to) == CHARGE
    assert await token_balance(evm_devnet, usdc, payer.address) == 10**6 - CHARGE


async def test_the_typescript_client_pays_upto_and_is_charged_less(stack, evm_devnet) -> None:
    await asyncio.to_thread(ensure_ts_installed)
    payer, pay_to = await upto_payer(evm_devnet, 10**6), Account.create().address
    usdc = evm_devnet["usdc"]["address"]
    accepts = {
        "scheme": "upto",
        "network": NETWORK,
        "price": "$0.05",
        "payTo": pay_to,
        "maxTimeoutSeconds": 120,
    }
    resource = PaidResource(
        stack.gateway_url, NETWORK, UptoEvmServerScheme(), "/tokens", accepts, "usage", {"n": 7}, charge="25%"
    )
    async with serve_evm_schemes(stack, evm_devnet), resource:
        result = await ts_pay(f"{resource.url}/tokens", payer, usdc, scheme="upto", max_amount=MAXIMUM)
    assert result["status"] == 200, result
    assert result["accepted"]["scheme"] == "upto" and result["accepted"]["amount"] == str(MAXIMUM)
    settlement = result["paymentResponse"]
    assert settlement["success"] is True and settlement["payer"] == payer.address
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settlement["transaction"])
    assert receipt["status"] == "0x1" and receipt["to"].lower() == UPTO_PROXY_ADDRESS.lower()
    assert await token_balance(evm_devnet, usdc, pay_to) == MAXIMUM // 4
    assert await token_balance(evm_devnet, usdc, payer.address) == 10**6 - MAXIMUM // 4
