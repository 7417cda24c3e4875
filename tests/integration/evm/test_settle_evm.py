"""EVM settle through the real stack (gateway -> NATS -> worker -> ledger) against the devnet.

Concurrent settles get gap-free nonces; one payment is broadcast once however often it is settled;
the wire answers carry the mined transaction.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import msgspec
from eth_account import Account

from tests.fixtures.evm import funded_payer, payment_request, serve_evm, usdc_balance
from x402fac.devnet.evm.rpc import DevnetRpc


def body(request) -> dict:
    return msgspec.to_builtins(request)


async def nonce_counts(info: dict) -> dict[str, tuple[int, int]]:
    """(latest, pending) transaction counts of every facilitator signer."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        counts = {}
        for signer in info["facilitators"]:
            latest = int(await rpc.call("eth_getTransactionCount", signer["address"], "latest"), 16)
            pending = int(await rpc.call("eth_getTransactionCount", signer["address"], "pending"), 16)
            counts[signer["address"]] = (latest, pending)
        return counts


async def settle_many_distinct(stack, info: dict, count: int, payers: int) -> None:
    accounts = await asyncio.gather(*(funded_payer(info, 100_000_000) for _ in range(payers)))
    pay_to = Account.create().address
    requests = [payment_request(info, accounts[i % payers], pay_to, 10_000 + i) for i in range(count)]
    before = await nonce_counts(info)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120) as http:
        answers = await asyncio.gather(*(http.post("/settle", json=body(r)) for r in requests))
    results = [a.json() for a in answers]
    assert all(a.status_code == 200 for a in answers)
    assert [r["success"] for r in results] == [True] * count, [r for r in results if not r["success"]]
    assert len({r["transaction"] for r in results}) == count
    assert await usdc_balance(info, pay_to) == sum(10_000 + i for i in range(count))

    # Every broadcast is mined, each signer's nonces are contiguous, nothing waits behind a gap.
    by_signer: dict[str, list[int]] = defaultdict(list)
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        for result in results:
            tx = await rpc.call("eth_getTransactionByHash", result["transaction"])
            receipt = await rpc.call("eth_getTransactionReceipt", result["transaction"])
            assert receipt["status"] == "0x1"
            by_signer[tx["from"].lower()].append(int(tx["nonce"], 16))
    after = await nonce_counts(info)
    for address, (latest, pending) in after.items():
        start = before[address][0]
        nonces = sorted(by_signer.get(address.lower(), []))
        assert nonces == list(range(start, start + len(nonces)))
        assert latest == pending == start + len(nonces)
    assert sum(len(n) for n in by_signer.values()) == count


async def test_fifty_concurrent_settles_automine(stack, evm_devnet) -> None:
    async with serve_evm(stack, evm_devnet):
        await settle_many_distinct(stack, evm_devnet, 50, payers=5)


async def test_fifty_concurrent_settles_one_second_blocks(stack, evm_devnet_1s) -> None:
    async with serve_evm(stack, evm_devnet_1s):
        await settle_many_distinct(stack, evm_devnet_1s, 50, payers=5)


async def test_one_payment_settled_twenty_times_broadcasts_once_and_succeeds_once(stack, evm_devnet) -> None:
    payer = await funded_payer(evm_devnet, 1_000_000)
    pay_to = Account.create().address
    request = body(payment_request(evm_devnet, payer, pay_to, 4_321))
    before = await nonce_counts(evm_devnet)
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=120) as http,
    ):
        answers = [
            a.json() for a in await asyncio.gather(*(http.post("/settle", json=request) for _ in range(20)))
        ]
        [success] = [a for a in answers if a["success"]]
        transaction = success["transaction"]
        copies = [a for a in answers if not a["success"]]
        assert len(copies) == 19
        for answer in copies:
            assert answer["errorReason"] == "duplicate_settlement", answer
            assert answer["transaction"] in (transaction, ""), answer  # "" while the first has not signed yet
        repeat = (await http.post("/settle", json=request)).json()
    assert success == {
        "success": True,
        "transaction": transaction,
        "network": "eip155:84532",
        "payer": payer.address,
        "amount": "4321",
    }
    assert repeat["success"] is False and repeat["errorReason"] == "duplicate_settlement"
    assert repeat["transaction"] == transaction and repeat["network"] == "eip155:84532"
    assert "already settled" in repeat["errorMessage"]
    after = await nonce_counts(evm_devnet)
    assert sum(after[a][0] - before[a][0] for a in after) == 1
    assert await usdc_balance(evm_devnet, pay_to) == 4_321


async def test_wire_answers_for_verify_and_failed_settle(stack, evm_devnet) -> None:
    payer = await funded_payer(evm_devnet, 1_000)
    pay_to = Account.create().address
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http,
    ):
        valid = body(payment_request(evm_devnet, payer, pay_to, 1_000))
        assert (await http.post("/verify", json=valid)).json() == {"isValid": True, "payer": payer.address}
        too_much = body(payment_request(evm_devnet, payer, pay_to, 5_000))
        answer = (await http.post("/settle", json=too_much)).json()
        assert answer["success"] is False
        assert answer["errorReason"] == "insufficient_balance"
        assert answer["transaction"] == "" and answer["network"] == "eip155:84532"
        assert answer["payer"] == payer.address
        for _ in range(50):
            kinds = (await http.get("/supported")).json()
            if any(k["network"] == "eip155:84532" for k in kinds["kinds"]):
                break
            await asyncio.sleep(0.1)
        extra = {"name": "USDC", "version": "2", "asset": evm_devnet["usdc"]["address"]}
        evm_kinds = [k for k in kinds["kinds"] if k["network"] in ("eip155:84532", "base-sepolia")]
        assert evm_kinds == [
            {"x402Version": 2, "scheme": "exact", "network": "eip155:84532", "extra": extra},
            {"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "extra": extra},
        ]
        assert kinds["signers"]["eip155:*"] == [f["address"] for f in evm_devnet["facilitators"]]


async def test_signers_used_behind_our_back_between_settles(stack, evm_devnet) -> None:
    async with serve_evm(stack, evm_devnet):
        await settle_many_distinct(stack, evm_devnet, 6, payers=2)
        async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:  # an operator moves ETH with the same keys
            for signer in evm_devnet["facilitators"]:
                tx_hash = await rpc.send(signer["privateKey"], Account.create().address, value=1)
                await rpc.wait_receipt(tx_hash)
        before = await nonce_counts(evm_devnet)
        await settle_many_distinct(stack, evm_devnet, 10, payers=2)
    after = await nonce_counts(evm_devnet)
    assert sum(after[a][0] - before[a][0] for a in after) == 10
