"""On EVM, through the real stack (gateways -> NATS -> worker -> ledger) and the devnet:
one payment, one success; forgeries leave no state; a settled payment no longer verifies.

Every test checks the chain too: the payee's balance and the facilitator signers' transaction counts.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import funded_payer, payment_request, serve_evm, sign_authorization, usdc_balance
from x402fac.devnet.evm.rpc import DevnetRpc

NETWORK = "eip155:84532"


async def signer_transactions(info: dict) -> int:
    """Transactions mined from every facilitator signer so far."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        counts = [
            int(await rpc.call("eth_getTransactionCount", signer["address"], "latest"), 16)
            for signer in info["facilitators"]
        ]
    return sum(counts)


def payment_id(info: dict, body: dict) -> str:
    authorization = body["paymentPayload"]["payload"]["authorization"]
    return "/".join(
        (
            str(info["chainId"]),
            info["usdc"]["address"].lower(),
            authorization["from"].lower(),
            authorization["nonce"],
        )
    )


def reordered(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def formattings(body: dict) -> list[bytes]:
    """One payment request, encoded three ways (the bytes differ, the payment does not)."""
    return [
        json.dumps(body, separators=(",", ":")).encode(),
        json.dumps(body, indent=2).encode(),
        json.dumps(reordered(body), indent=1).encode(),
    ]


@pytest.fixture(scope="module")
async def evm_stack(stack, evm_devnet):
    """The stack serving the EVM devnet, with a second gateway process alongside the first."""
    second = await stack.add_gateway()
    async with serve_evm(stack, evm_devnet):
        yield stack, [stack.gateway_url, second.url]


async def test_settled_then_settled_again_is_duplicate_with_the_first_transaction(evm_stack, evm_devnet):
    stack, _ = evm_stack
    payer = await funded_payer(evm_devnet, 10_000)
    pay_to = Account.create().address
    body = msgspec.to_builtins(payment_request(evm_devnet, payer, pay_to, 2_500))
    before = await signer_transactions(evm_devnet)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        first = (await http.post("/settle", json=body)).json()
        second = await http.post("/settle", json=body)
    assert first["success"] is True, first
    assert second.status_code == 200
    again = second.json()
    assert again["success"] is False
    assert again["errorReason"] == "duplicate_settlement"
    assert again["transaction"] == first["transaction"]
    assert again["network"] == NETWORK and again["payer"] == payer.address
    assert "already settled" in again["errorMessage"] and first["transaction"] in again["errorMessage"]
    assert await usdc_balance(evm_devnet, pay_to) == 2_500
    assert await signer_transactions(evm_devnet) == before + 1
    record = await stack.ledger_record(payment_id(evm_devnet, body))
    assert record is not None and record.state == "settled" and record.transaction == first["transaction"]


async def settle_ten_copies(gateways: list[str], info: dict) -> tuple[dict, list[dict], str, int]:
    """Ten concurrent copies of one payment, three JSON formattings, alternating between gateways:
    (the success, the other nine answers, payTo, signer transactions before)."""
    payer = await funded_payer(info, 10_000)
    pay_to = Account.create().address
    body = msgspec.to_builtins(payment_request(info, payer, pay_to, 3_000))
    encodings = formattings(body)
    before = await signer_transactions(info)
    async with httpx.AsyncClient(timeout=60) as http:
        replies = await asyncio.gather(
            *(
                http.post(
                    f"{gateways[i % 2]}/settle",
                    content=encodings[i % len(encodings)],
                    headers={"content-type": "application/json"},
                )
                for i in range(10)
            )
        )
    assert [reply.status_code for reply in replies] == [200] * 10
    answers = [reply.json() for reply in replies]
    [success] = [answer for answer in answers if answer["success"]]
    assert success["payer"] == payer.address and success["amount"] == "3000"
    assert await usdc_balance(info, payer.address) == 7_000
    return success, [answer for answer in answers if not answer["success"]], pay_to, before


async def test_ten_concurrent_copies_over_two_gateways_one_success(evm_stack, evm_devnet):
    _, gateways = evm_stack
    success, copies, pay_to, before = await settle_ten_copies(gateways, evm_devnet)
    assert [copy["errorReason"] for copy in copies] == ["duplicate_settlement"] * 9, copies
    assert all(copy["network"] == NETWORK and copy["payer"] == success["payer"] for copy in copies)
    # Every copy names the transaction that paid (one that came before the winner signed waits for it).
    assert [copy["transaction"] for copy in copies] == [success["transaction"]] * 9
    # Exactly one transfer on chain.
    assert await usdc_balance(evm_devnet, pay_to) == 3_000
    assert await signer_transactions(evm_devnet) == before + 1
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", success["transaction"])
    assert receipt["status"] == "0x1"


async def test_forgeries_leave_no_state_and_the_payer_still_settles(evm_stack, evm_devnet):
    stack, gateways = evm_stack
    payer = await funded_payer(evm_devnet, 10_000)
    pay_to = Account.create().address
    forger = Account.create()
    forgeries = []
    for _ in range(12):
        body = msgspec.to_builtins(payment_request(evm_devnet, payer, pay_to, 1_000))
        authorization = body["paymentPayload"]["payload"]["authorization"]
        _, signature = sign_authorization(  # the same authorization, signed by a stranger's key
            forger,
            evm_devnet,
            to=pay_to,
            value=1_000,
            valid_after=int(authorization["validAfter"]),
            valid_before=int(authorization["validBefore"]),
            nonce=bytes.fromhex(authorization["nonce"][2:]),
            from_address=payer.address,
        )
        body["paymentPayload"]["payload"]["signature"] = "0x" + signature.hex()
        forgeries.append(body)
    before = await signer_transactions(evm_devnet)
    async with httpx.AsyncClient(timeout=60) as http:
        answers = [
            (await http.post(f"{gateways[i % 2]}/settle", json=forged)).json()
            for i, forged in enumerate(forgeries)
        ]
        for answer in answers:
            assert answer["success"] is False and answer["errorReason"] == "invalid_signature", answer
            assert answer["transaction"] == ""
        for forged in forgeries:
            assert await stack.ledger_record(payment_id(evm_devnet, forged)) is None
        assert await stack.payer_settles(payer.address) == 0
        assert await signer_transactions(evm_devnet) == before
        assert await usdc_balance(evm_devnet, payer.address) == 10_000

        own = msgspec.to_builtins(payment_request(evm_devnet, payer, pay_to, 1_000))
        settled = (await http.post(f"{gateways[0]}/settle", json=own)).json()
    assert settled["success"] is True, settled
    assert await stack.payer_settles(payer.address) == 1  # the counter counts authenticated settles
    assert await usdc_balance(evm_devnet, pay_to) == 1_000
    assert await signer_transactions(evm_devnet) == before + 1


async def test_verify_of_a_settled_payment_is_nonce_already_used(evm_stack, evm_devnet):
    stack, _ = evm_stack
    payer = await funded_payer(evm_devnet, 10_000)
    pay_to = Account.create().address
    body = msgspec.to_builtins(payment_request(evm_devnet, payer, pay_to, 1_200))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        assert (await http.post("/verify", json=body)).json() == {"isValid": True, "payer": payer.address}
        settled = (await http.post("/settle", json=body)).json()
        assert settled["success"] is True, settled
        verified = (await http.post("/verify", json=body)).json()
    assert verified["isValid"] is False
    assert verified["invalidReason"] == "nonce_already_used"
    assert body["paymentPayload"]["payload"]["authorization"]["nonce"] in verified["invalidMessage"]
    assert await usdc_balance(evm_devnet, pay_to) == 1_200
