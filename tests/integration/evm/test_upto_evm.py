"""The `upto` scheme on the devnet, through the real stack, with payloads the official SDK client signs:
/supported names the facilitator the payer binds; the server settles less than the maximum (exactly
that moves, through the upto proxy, from the witness's facilitator); 0 settles nothing and no
transaction, and the authorization settles no second time; copies answer `duplicate_settlement`;
a stranger's facilitator, an amount above the maximum, a forged or exact-proxy signature leave no
record and send nothing.
"""

from __future__ import annotations

import asyncio

import httpx
from eth_account import Account

from tests.fixtures.evm import token_balance
from tests.fixtures.upto import facilitator_of, serve_evm_schemes, upto_body, upto_payer
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.worker_evm.permit2 import EXACT_PROXY_ADDRESS, UPTO_PROXY_ADDRESS

UNIT = 10**6


def payment_id(info: dict, body: dict) -> str:
    auth = body["paymentPayload"]["payload"]["permit2Authorization"]
    permit2 = info["permit2"]["address"].lower()
    return f"{info['chainId']}/{permit2}/{auth['from'].lower()}/0x{int(auth['nonce']):064x}"


async def usdc(info: dict, owner: str) -> int:
    return await token_balance(info, info["usdc"]["address"], owner)


async def post(stack, path: str, body: dict) -> dict:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as http:
        return (await http.post(path, json=body)).json()


async def test_supported_lists_upto_with_the_facilitator_address(stack, evm_devnet):
    async with serve_evm_schemes(stack, evm_devnet):
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            # /supported is cached for the stack's TTL (0.5 s): an earlier test's worker may still
            # be what it shows, for at most that long after this worker started.
            for _ in range(100):
                kinds = (await http.get("/supported")).json()["kinds"]
                if any(k["scheme"] == "upto" for k in kinds):
                    break
                await asyncio.sleep(0.1)
    [upto] = [k for k in kinds if k["scheme"] == "upto" and k["network"] == evm_devnet["network"]]
    assert upto["extra"]["facilitatorAddress"] == facilitator_of(evm_devnet)
    assert upto["extra"]["asset"] == evm_devnet["usdc"]["address"]
    assert not [k for k in kinds if k["scheme"] == "upto" and k["x402Version"] == 1]


async def test_settles_less_than_the_maximum_from_the_bound_facilitator(stack, evm_devnet):
    payer, pay_to = await upto_payer(evm_devnet), Account.create().address
    body = upto_body(evm_devnet, payer, pay_to, 5 * UNIT, 1_234_567)
    verify_body = {**body, "paymentRequirements": body["paymentPayload"]["accepted"]}
    async with serve_evm_schemes(stack, evm_devnet):
        verified = await post(stack, "/verify", verify_body)
        settled = await post(stack, "/settle", body)
        again = await post(stack, "/settle", body)
    assert verified == {"isValid": True, "payer": payer.address}, verified
    assert settled["success"] is True and settled["amount"] == "1234567", settled
    assert again["success"] is False and again["errorReason"] == "duplicate_settlement", again
    assert again["transaction"] == settled["transaction"]
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", settled["transaction"])
        tx = await rpc.call("eth_getTransactionByHash", settled["transaction"])
    assert receipt["status"] == "0x1" and receipt["to"].lower() == UPTO_PROXY_ADDRESS.lower()
    assert tx["from"].lower() == facilitator_of(evm_devnet).lower()
    assert await usdc(evm_devnet, pay_to) == 1_234_567
    assert await usdc(evm_devnet, payer.address) == 10 * UNIT - 1_234_567


async def test_zero_settles_nothing_and_the_authorization_only_once(stack, evm_devnet):
    payer, pay_to = await upto_payer(evm_devnet), Account.create().address
    nothing = upto_body(evm_devnet, payer, pay_to, 5 * UNIT, 0)
    later = {**nothing, "paymentRequirements": {**nothing["paymentRequirements"], "amount": str(UNIT)}}
    async with serve_evm_schemes(stack, evm_devnet):
        settled = await post(stack, "/settle", nothing)
        record = await stack.ledger_record(payment_id(evm_devnet, nothing))
        second = await post(stack, "/settle", later)
    assert settled["success"] is True and settled["transaction"] == "" and settled["amount"] == "0", settled
    assert record is not None and record.state == "settled" and record.transaction == ""
    assert second["success"] is False and second["errorReason"] == "duplicate_settlement", second
    assert await usdc(evm_devnet, pay_to) == 0
    assert await usdc(evm_devnet, payer.address) == 10 * UNIT


async def test_ten_concurrent_copies_one_success(stack, evm_devnet):
    payer, pay_to = await upto_payer(evm_devnet), Account.create().address
    body = upto_body(evm_devnet, payer, pay_to, 5 * UNIT, 2 * UNIT)
    async with serve_evm_schemes(stack, evm_devnet):
        results = await asyncio.gather(*(post(stack, "/settle", body) for _ in range(10)))
    assert sum(r["success"] for r in results) == 1, results
    assert {r["errorReason"] for r in results if not r["success"]} == {"duplicate_settlement"}
    assert len({r["transaction"] for r in results}) == 1
    assert await usdc(evm_devnet, pay_to) == 2 * UNIT


async def test_strangers_and_overcharges_leave_no_record_and_move_nothing(stack, evm_devnet):
    payer, pay_to = await upto_payer(evm_devnet), Account.create().address
    stranger = Account.create()
    attacks = {
        "upto_facilitator_mismatch": upto_body(
            evm_devnet, payer, pay_to, 5 * UNIT, UNIT, facilitator=stranger.address
        ),
        "invalid_upto_evm_payload_settlement_exceeds_amount": upto_body(
            evm_devnet, payer, pay_to, 5 * UNIT, 5 * UNIT + 1
        ),
        "invalid_permit2_signature": upto_body(evm_devnet, payer, pay_to, 5 * UNIT, UNIT, signer=stranger),
        "invalid_permit2_spender": upto_body(
            evm_devnet, payer, pay_to, 5 * UNIT, UNIT, spender=EXACT_PROXY_ADDRESS
        ),
    }
    async with serve_evm_schemes(stack, evm_devnet):
        for reason, body in attacks.items():
            settled = await post(stack, "/settle", body)
            assert settled["success"] is False and settled["errorReason"] == reason, (reason, settled)
            assert settled["transaction"] == ""
            assert await stack.ledger_record(payment_id(evm_devnet, body)) is None
    assert await stack.payer_settles(payer.address) == 0
    assert await usdc(evm_devnet, payer.address) == 10 * UNIT
