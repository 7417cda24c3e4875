"""Nonce recovery on the devnet: a nonce taken behind our back, a refused broadcast (reused, or filled
while a later transaction waits), and a prepared transaction that is never broadcast."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web
from eth_account import Account

from tests.fixtures.evm import CountingProxy, funded_payer, funded_signer_key, payment_request
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Rejected
from x402fac.worker_evm import nonces
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme

NETWORK = "eip155:84532"


@pytest.fixture
async def lone_signer(evm_devnet):
    """A scheme whose only signer is a fresh key: the test owns every nonce of it."""
    key = await funded_signer_key(evm_devnet)
    scheme = ExactEvmScheme([replace(network_from_devnet(evm_devnet), signer_keys=(key,))])
    yield scheme, Account.from_key(key)
    await scheme.close()


async def prepare(scheme: ExactEvmScheme, request):
    identity = await scheme.identify(request)
    await scheme.verify(request, identity)
    return await scheme.prepare(request, identity)


async def settle(scheme: ExactEvmScheme, request) -> str:
    prepared = await prepare(scheme, request)
    await scheme.broadcast(prepared)
    outcome = await scheme.confirm(prepared, 15)
    assert outcome.status == "confirmed", outcome
    return prepared.transaction


async def signer_txs(info: dict, address: str) -> tuple[int, int]:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        latest = int(await rpc.call("eth_getTransactionCount", address, "latest"), 16)
        pending = int(await rpc.call("eth_getTransactionCount", address, "pending"), 16)
    return latest, pending


async def tx_nonce(info: dict, tx_hash: str) -> int:
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        return int((await rpc.call("eth_getTransactionByHash", tx_hash))["nonce"], 16)


async def test_nonce_taken_behind_our_back_is_rejected_then_recovered(evm_devnet, lone_signer) -> None:
    scheme, signer = lone_signer
    payer = await funded_payer(evm_devnet)
    pay_to = Account.create().address
    await settle(scheme, payment_request(evm_devnet, payer, pay_to, 100))
    request = payment_request(evm_devnet, payer, pay_to, 200)
    prepared = await prepare(scheme, request)
    taken = prepared.attempt.nonce
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:  # someone else uses the signer key
        await rpc.wait_receipt(await rpc.send("0x" + bytes(signer.key).hex(), signer.address, nonce=taken))
    with pytest.raises(Rejected) as rejected:
        await scheme.broadcast(prepared)
    assert rejected.value.retryable and "nonce too low" in rejected.value.message

    later = await settle(scheme, payment_request(evm_devnet, payer, pay_to, 300))
    retried = await settle(scheme, request)  # the rejected payment settles on retry
    assert [await tx_nonce(evm_devnet, h) for h in (later, retried)] == [taken + 1, taken + 2]
    assert await signer_txs(evm_devnet, signer.address) == (taken + 3, taken + 3)


async def test_refused_broadcast_frees_its_nonce_for_the_next_settle(evm_devnet, lone_signer) -> None:
    scheme, signer = lone_signer
    payer = await funded_payer(evm_devnet)
    pay_to = Account.create().address
    await settle(scheme, payment_request(evm_devnet, payer, pay_to, 100))
    prepared = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 200))
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        await rpc.call("anvil_setBalance", signer.address, "0x0")  # the node now refuses: no gas money
        with pytest.raises(Rejected, match="refused"):
            await scheme.broadcast(prepared)
        await rpc.call("anvil_setBalance", signer.address, hex(10**20))
    reused = await settle(scheme, payment_request(evm_devnet, payer, pay_to, 300))
    assert await tx_nonce(evm_devnet, reused) == prepared.attempt.nonce
    assert await signer_txs(evm_devnet, signer.address) == (prepared.attempt.nonce + 1,) * 2


async def test_refused_broadcast_with_a_later_tx_waiting_is_filled(evm_devnet, lone_signer) -> None:
    scheme, signer = lone_signer
    payer = await funded_payer(evm_devnet)
    pay_to = Account.create().address
    first = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 100))
    second = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 200))
    await scheme.broadcast(second)  # waits in the node's pool for the first nonce
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        balance = await rpc.call("eth_getBalance", signer.address, "latest")
        await rpc.call("anvil_setBalance", signer.address, "0x0")
        with pytest.raises(Rejected):
            await scheme.broadcast(first)
        await rpc.call("anvil_setBalance", signer.address, balance)
    # No settle comes to reuse the nonce: the manager fills it so the waiting transfer is mined.
    outcome = await scheme.confirm(second, 15)
    assert outcome.status == "confirmed"
    assert await tx_nonce(evm_devnet, second.transaction) == first.attempt.nonce + 1
    assert await signer_txs(evm_devnet, signer.address) == (first.attempt.nonce + 2,) * 2


async def test_prepared_but_never_broadcast_is_abandoned_and_dropped(
    evm_devnet, lone_signer, monkeypatch
) -> None:
    monkeypatch.setattr(nonces, "ABANDON_AFTER", 1.0)
    scheme, signer = lone_signer
    payer = await funded_payer(evm_devnet)
    pay_to = Account.create().address
    never_sent = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 100))
    waiting = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 200))
    await scheme.broadcast(waiting)
    assert (await scheme.confirm(waiting, 15)).status == "confirmed"
    dropped = await scheme.confirm(never_sent, 0.2)
    assert dropped.status == "dropped"
    with pytest.raises(Rejected, match="expired"):
        await scheme.broadcast(never_sent)
    assert await signer_txs(evm_devnet, signer.address) == (never_sent.attempt.nonce + 2,) * 2


class FlakyProxy(CountingProxy):
    """A JSON-RPC proxy to the devnet that can lose one eth_sendRawTransaction without forwarding it,
    dropping the connection as a node that crashed mid-request would (delivery unknown to the sender)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.lose_next_send = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.lose_next_send and b"eth_sendRawTransaction" in body:
            self.lose_next_send = False
            request.transport.close()  # no answer at all
            return web.Response()
        return await self.forward(body)


async def test_broadcast_with_unknown_delivery_is_resent_and_mined(evm_devnet, monkeypatch) -> None:
    monkeypatch.setattr(nonces, "RESEND_AFTER", 0.5)
    proxy = FlakyProxy(evm_devnet["rpcUrl"])
    await proxy.start()
    key = await funded_signer_key(evm_devnet)
    network = replace(network_from_devnet(evm_devnet), signer_keys=(key,), rpc_urls=(proxy.url,))
    scheme = ExactEvmScheme([network])
    try:
        payer = await funded_payer(evm_devnet)
        pay_to = Account.create().address
        prepared = await prepare(scheme, payment_request(evm_devnet, payer, pay_to, 700))
        proxy.lose_next_send = True
        with pytest.raises(NodeUnavailable):
            await scheme.broadcast(prepared)  # the pipeline answers settlement_pending with this tx
        outcome = await scheme.confirm(prepared, 15)
        assert outcome.status == "confirmed"  # the same signed bytes were sent again
        assert await signer_txs(evm_devnet, Account.from_key(key).address) == (1, 1)
    finally:
        await scheme.close()
        await proxy.stop()
