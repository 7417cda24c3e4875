"""EVM worker replicas started with one environment share one pool of signer keys through leases:
each key signs for one replica at a time, so concurrent settles never collide on a nonce."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import httpx
import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import funded_payer, funded_signer_key, payment_request
from tests.fixtures.stack import Stack
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme

SETTLES = 200
PRICE = 1_000


async def _replicas(stack: Stack, info: dict, keys: list[str], count: int = 2):
    network = replace(network_from_devnet(info), signer_keys=tuple(keys))
    return [
        await stack.start_worker("evm", [ExactEvmScheme([network], lease_ttl=6.0, lease_margin=2.0)])
        for _ in range(count)
    ]


async def _settled_in(replicas, held: list[int], timeout: float = 15.0) -> None:
    """Until the replicas hold `held` keys each (in some order) and take settle work accordingly."""
    for _ in range(int(timeout / 0.1)):
        counts = sorted(len(r.status()["signers"]["held"]) for r in replicas)
        if counts == sorted(held) and all(
            r.settling == bool(r.status()["signers"]["held"]) for r in replicas
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"leases did not settle: {[r.status() for r in replicas]}")


async def _transactions(info: dict, addresses: list[str]) -> dict[str, int]:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        return {a: int(await rpc.call("eth_getTransactionCount", a, "latest"), 16) for a in addresses}


async def _settle_many(stack: Stack, info: dict) -> list[dict]:
    other = await stack.add_gateway()
    payers = [await funded_payer(info, usdc=SETTLES * PRICE) for _ in range(8)]
    pay_to = "0x" + os.urandom(20).hex()
    bodies = [
        msgspec.to_builtins(payment_request(info, payers[i % len(payers)], pay_to, PRICE))
        for i in range(SETTLES)
    ]
    limit = asyncio.Semaphore(64)

    async def settle(http: httpx.AsyncClient, index: int) -> dict:
        async with limit:
            url = (stack.gateway_url if index % 2 else other.url) + "/settle"
            answer = await http.post(url, json=bodies[index])
            assert answer.status_code == 200, answer.text
            return answer.json()

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=128)) as http:
        return await asyncio.gather(*(settle(http, i) for i in range(SETTLES)))


@pytest.mark.parametrize("key_count", [2, 1])
async def test_two_replicas_share_the_key_pool(evm_devnet_1s, key_count):
    # 1 s blocks: anvil automine can strand out-of-order nonces of a busy sender (foundry#10122)
    evm_devnet = evm_devnet_1s
    keys = [await funded_signer_key(evm_devnet) for _ in range(key_count)]
    addresses = [Account.from_key(k).address for k in keys]
    stack = await Stack.start()
    try:
        replicas = await _replicas(stack, evm_devnet, keys)
        await _settled_in(replicas, [1, 1] if key_count == 2 else [1, 0])
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            await asyncio.sleep(0.6)  # the gateway's view of the replicas is cached that long
            health = (await http.get("/health")).json()
        statuses = health["replicas"]["evm"]
        assert len(statuses) == 2 and all(s["signers"]["pool"] == key_count for s in statuses)
        # more replicas than keys: the one without a key says it verifies only
        assert len(health["replicasWithoutSettle"]) == 2 - key_count
        before = await _transactions(evm_devnet, addresses)
        results = await _settle_many(stack, evm_devnet)
        failures = [r for r in results if not r["success"]]
        assert failures == [], [f.get("errorMessage") for f in failures[:3]]
        after = await _transactions(evm_devnet, addresses)
        sent = {a: after[a] - before[a] for a in addresses}
        assert sum(sent.values()) == SETTLES  # one transaction per settle, no nonce lost or reused
        if key_count == 2:
            assert all(count > 0 for count in sent.values()), sent  # both replicas signed
    finally:
        await stack.close()
