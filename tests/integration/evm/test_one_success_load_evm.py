"""No paid settle without its one success, under load with short deadlines (EVM devnet, real stack).

Hundreds of valid settles at once through a gateway whose settle timeout is 2 s: many are answered
`settlement_pending` (the worker stops waiting for the chain or the ledger at the deadline; the
ledger may write the finalize later). The resource server retries every such body until it gets a
final answer, as it should. Afterwards the chain is the judge: every payment whose authorization was
used on chain was answered `success:true` exactly once, and none without a transfer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import msgspec
from eth_account import Account

from tests.fixtures.evm import funded_payer, payment_request, serve_evm
from tests.fixtures.stack import Stack, serve_gateway
from x402fac.bus import free_port
from x402fac.devnet.evm.rpc import DevnetRpc, calldata
from x402fac.gateway.config import GatewayConfig

PAYERS = 30
PAYMENTS_PER_PAYER = 4  # 120 settles at once
SETTLE_TIMEOUT = 2.0
RETRY_FOR_SECONDS = 90.0  # the bound on retrying one payment (the test ends long before)
RETRYABLE_503 = ("worker_timeout", "worker_unavailable", "overloaded")


async def _settle_until_final(http: httpx.AsyncClient, url: str, body: bytes, log: list[dict]) -> None:
    """Send the body; retry on `settlement_pending` and a retryable 503 until a final answer."""
    until = time.monotonic() + RETRY_FOR_SECONDS
    while True:
        reply = await http.post(url, content=body, headers={"content-type": "application/json"})
        answer = reply.json()
        log.append({"status": reply.status_code, **answer})
        if reply.status_code == 503 and answer.get("error") in RETRYABLE_503:
            pass
        elif reply.status_code != 200 or answer.get("errorReason") != "settlement_pending":
            return
        assert time.monotonic() < until, f"still not final after {RETRY_FOR_SECONDS} s: {log}"
        await asyncio.sleep(0.5)


async def _used_on_chain(info: dict, payer: str, nonce: str) -> bool:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        word = await rpc.eth_call(
            info["usdc"]["address"],
            calldata(
                "authorizationState(address,bytes32)",
                ["address", "bytes32"],
                [payer, bytes.fromhex(nonce[2:])],
            ),
        )
    return int.from_bytes(word, "big") == 1


async def _signer_transactions(info: dict) -> int:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        counts = [
            int(await rpc.call("eth_getTransactionCount", signer["address"], "latest"), 16)
            for signer in info["facilitators"]
        ]
    return sum(counts)


async def _balance(info: dict, address: str) -> int:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        word = await rpc.eth_call(
            info["usdc"]["address"], calldata("balanceOf(address)", ["address"], [address])
        )
    return int.from_bytes(word, "big")


async def test_every_transfer_has_exactly_one_success_after_retries(evm_devnet):
    stack = await Stack.start()
    config = GatewayConfig(
        host="127.0.0.1",
        port=free_port(),
        ip_limit_per_minute=1_000_000,
        supported_ttl=0.5,
        settle_timeout=SETTLE_TIMEOUT,
        settle_in_flight=1_000,
        max_in_flight=2_000,
    )
    gateway = await serve_gateway(config, stack.nats)
    stack.gateways.append(gateway)
    try:
        async with serve_evm(stack, evm_devnet):
            payers = await asyncio.gather(*(funded_payer(evm_devnet, 1_000_000) for _ in range(PAYERS)))
            pay_to = Account.create().address
            payments = []  # (payer, nonce, amount, body)
            for index in range(PAYERS * PAYMENTS_PER_PAYER):
                payer, amount = payers[index % PAYERS], 1_000 + index
                body = msgspec.to_builtins(payment_request(evm_devnet, payer, pay_to, amount))
                nonce = body["paymentPayload"]["payload"]["authorization"]["nonce"]
                payments.append((payer.address, nonce, amount, msgspec.json.encode(body)))
            before = await _signer_transactions(evm_devnet)
            logs: list[list[dict]] = [[] for _ in payments]
            started = time.monotonic()
            limits = httpx.Limits(max_connections=len(payments), max_keepalive_connections=len(payments))
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                await asyncio.gather(
                    *(
                        _settle_until_final(http, f"{gateway.url}/settle", body, log)
                        for (_, _, _, body), log in zip(payments, logs, strict=True)
                    )
                )
            elapsed = time.monotonic() - started
            used = await asyncio.gather(*(_used_on_chain(evm_devnet, p, n) for p, n, _, _ in payments))

        successes = [sum(1 for answer in log if answer.get("success") is True) for log in logs]
        first = Counter(
            log[0].get("errorReason") or log[0].get("error") or ("success" if log[0].get("success") else "?")
            for log in logs
        )
        finals = Counter(
            log[-1].get("errorReason") or ("success" if log[-1].get("success") else "?") for log in logs
        )
        retried = sum(1 for log in logs if len(log) > 1)
        print(
            f"\n{len(payments)} settles at once, settle timeout {SETTLE_TIMEOUT} s: first answers {dict(first)};"
            f" {retried} retried ({sum(len(log) - 1 for log in logs)} retries); final answers {dict(finals)};"
            f" {sum(used)} transfers on chain; {elapsed:.1f} s"
        )
        for (payer, nonce, _, _), log, count, on_chain in zip(payments, logs, successes, used, strict=True):
            assert count == (1 if on_chain else 0), (payer, nonce, on_chain, log)
            success = next(answer for answer in log if answer.get("success")) if count else None
            if success is not None:  # the success names the transfer that paid
                assert success["transaction"].startswith("0x") and success["payer"] == payer
        unsettled = [log for log, on_chain in zip(logs, used, strict=True) if not on_chain]
        assert not unsettled, f"every one of these payments is valid, each must settle: {unsettled}"
        # One transfer each, and nothing else paid: the payee holds exactly the sum of the payments.
        assert await _balance(evm_devnet, pay_to) == sum(amount for _, _, amount, _ in payments)
        sent = await _signer_transactions(evm_devnet) - before
        print(f"signer transactions mined: {sent} (a nonce left unused by a discarded attempt is filled)")
    finally:
        await stack.close()
