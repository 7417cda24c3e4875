"""Settle outcomes other than a prompt success: a reverted transfer names its cause; a transfer not
mined in time answers settlement_pending with its transaction, a retry gets the one success, and a
copy after that is told duplicate_settlement with the same transaction."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
from eth_account import Account

from tests.fixtures.evm import funded_payer, payment_request, serve_evm
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.telemetry.metrics import REGISTRY
from x402fac.worker import Submitted

NETWORK = "eip155:84532"


def reverted_gas() -> float:
    value = REGISTRY.get_sample_value(
        "x402fac_reverted_settlement_gas_total", {"family": "evm", "network": NETWORK}
    )
    return value or 0.0


async def test_reverted_transfer_fails_with_its_cause(evm_devnet, evm_scheme) -> None:
    payer = await funded_payer(evm_devnet, 1_500)
    pay_to = Account.create().address
    first, second = (payment_request(evm_devnet, payer, pay_to, 1_000) for _ in range(2))
    # Both verify while the balance covers each alone; both are sent; the later one must revert.
    identities = [await evm_scheme.identify(r) for r in (first, second)]
    for request, identity in zip((first, second), identities, strict=True):
        await evm_scheme.verify(request, identity)
    prepared = [await evm_scheme.prepare(r, i) for r, i in zip((first, second), identities, strict=True)]
    for p in prepared:
        await evm_scheme.broadcast(p)
    burnt_before = reverted_gas()
    outcomes = [await evm_scheme.confirm(p, 15) for p in prepared]
    assert [o.status for o in outcomes] == ["confirmed", "failed"]
    assert outcomes[1].reason == "settlement_failed"
    assert outcomes[1].message == "transaction reverted: ERC20: transfer amount exceeds balance"
    # The gas we paid for the reverted one is counted, once however often its receipt is read.
    await evm_scheme.resolve(Submitted(prepared[1].transaction, NETWORK), 1)
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", prepared[1].transaction)
    assert receipt["status"] == "0x0" and int(receipt["gasUsed"], 16) > 21_000
    assert reverted_gas() == burnt_before + int(receipt["gasUsed"], 16)


async def test_not_mined_in_time_is_pending_then_final_on_retry(stack, evm_devnet) -> None:
    payer = await funded_payer(evm_devnet, 10_000)
    request = msgspec.to_builtins(
        payment_request(
            evm_devnet, payer, Account.create().address, 2_000, requirements={"maxTimeoutSeconds": 1}
        )
    )
    async with (
        serve_evm(stack, evm_devnet),
        DevnetRpc(evm_devnet["rpcUrl"]) as rpc,
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http,
    ):
        await rpc.call("evm_setAutomine", False)
        try:
            pending = (await http.post("/settle", json=request)).json()
            assert pending["success"] is False
            assert pending["errorReason"] == "settlement_pending"
            assert pending["transaction"].startswith("0x") and len(pending["transaction"]) == 66
            assert pending["network"] == NETWORK and pending["payer"] == payer.address
            assert await rpc.call("eth_getTransactionReceipt", pending["transaction"]) is None
        finally:
            await rpc.call("evm_setAutomine", True)
        await rpc.call("evm_mine")
        for _ in range(20):  # the retry looks at the chain for a moment before answering
            final = (await http.post("/settle", json=request)).json()
            if final["success"]:
                break
            assert final["errorReason"] == "settlement_pending", final
            assert final["transaction"] == pending["transaction"]
            await asyncio.sleep(0.2)
        again = (await http.post("/settle", json=request)).json()
        receipt = await rpc.call("eth_getTransactionReceipt", pending["transaction"])
    assert final == {
        "success": True,
        "transaction": pending["transaction"],
        "network": NETWORK,
        "payer": payer.address,
        "amount": "2000",
    }
    # The success was handed out once: a further copy is told the payment was settled, by which tx.
    assert again["success"] is False and again["errorReason"] == "duplicate_settlement"
    assert again["transaction"] == pending["transaction"]
    assert receipt["status"] == "0x1"
