"""The exact scheme's chain steps against the devnet directly: refusals, failover, node outages."""

import msgspec
import pytest

from tests.fixtures.nano import (
    XNO,
    NanoAccount,
    nano_payment_body,
    nano_requirements,
    nano_send_block,
    publish_rival,
)
from x402fac.protocol import Reason, VerifyRequest
from x402fac.worker import Confirmation, Invalid, Prepared, Rejected, Submitted
from x402fac.worker_nano.config import NanoNetworkConfig
from x402fac.worker_nano.exact import ExactNanoScheme

DEAD_URL = "http://127.0.0.1:9"


def scheme_for(nano_devnet, *urls: str) -> ExactNanoScheme:
    threshold = int(nano_devnet.info["workThresholds"]["send"], 16)
    return ExactNanoScheme(
        [NanoNetworkConfig("nano:devnet", urls or (nano_devnet.rpc_url,), threshold)], rpc_timeout=2
    )


async def request_for(nano_rpc, nano_devnet, payer, pay_to, amount=1000):
    block = await nano_send_block(nano_rpc, nano_devnet, payer, pay_to.public_key, amount)
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, amount), block.to_json())
    return block, msgspec.convert(body, VerifyRequest)


async def test_failover_to_the_second_node(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    block, request = await request_for(nano_rpc, nano_devnet, payer, NanoAccount.generate())
    scheme = scheme_for(nano_devnet, DEAD_URL, nano_devnet.rpc_url)
    try:
        identity = await scheme.identify(request)
        await scheme.verify(request, identity)
        prepared = await scheme.prepare(request, identity)
        assert prepared.transaction == block.hash.hex().upper()
        await scheme.broadcast(prepared)
        outcome = await scheme.confirm(prepared, 10)
        assert outcome.status is Confirmation.CONFIRMED
        # Broadcasting it again is harmless ("Old block" means it is already there).
        await scheme.broadcast(prepared)
    finally:
        await scheme.close()


async def test_no_node_answers(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    _, request = await request_for(nano_rpc, nano_devnet, payer, NanoAccount.generate())
    scheme = scheme_for(nano_devnet, DEAD_URL)
    try:
        identity = await scheme.identify(request)
        with pytest.raises(Invalid) as caught:
            await scheme.verify(request, identity)
        assert caught.value.reason == Reason.NODE_UNAVAILABLE
        with pytest.raises(Rejected) as refused:
            await scheme.broadcast(Prepared(identity.payment_id, "nano:devnet", identity.payment))
        assert refused.value.reason == Reason.NODE_UNAVAILABLE and refused.value.retryable
        outcome = await scheme.resolve(Submitted(identity.payment_id, "nano:devnet"), 0.1)
        assert outcome.status is Confirmation.PENDING
    finally:
        await scheme.close()


async def test_fork_at_broadcast_is_a_final_refusal(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    block, request = await request_for(nano_rpc, nano_devnet, payer, NanoAccount.generate())
    scheme = scheme_for(nano_devnet)
    try:
        identity = await scheme.identify(request)
        await scheme.verify(request, identity)
        prepared = await scheme.prepare(request, identity)
        await publish_rival(nano_rpc, nano_devnet, payer, block, 5, balance=XNO)
        with pytest.raises(Rejected) as refused:
            await scheme.broadcast(prepared)
        assert refused.value.reason == Reason.FRONTIER_MOVED
        assert "Fork" in refused.value.message
        assert refused.value.retryable is False
        # The block never made it: reconciling it finds nothing to wait for.
        outcome = await scheme.confirm(prepared, 0.2)
        assert outcome.status is Confirmation.DROPPED
    finally:
        await scheme.close()


async def test_a_valid_block_is_verified_with_one_node_call_and_a_settled_one_is_named(
    nano_rpc, nano_devnet, nano_funded_account
):
    """A valid payment costs one read (of `previous`); the account and the block are looked up only when
    `previous` is not the frontier, so a block already on the ledger is still told apart from a frontier
    that moved."""
    payer = await nano_funded_account(XNO)
    _, request = await request_for(nano_rpc, nano_devnet, payer, NanoAccount.generate())
    scheme = scheme_for(nano_devnet)
    [runtime] = scheme.runtimes.values()
    asked: list[str] = []
    for name in ("blocks_info", "account_info", "block_info"):
        real = getattr(runtime.node, name)

        async def counted(*args, _real=real, _name=name, **kwargs):
            asked.append(_name)
            return await _real(*args, **kwargs)

        setattr(runtime.node, name, counted)
    try:
        identity = await scheme.identify(request)
        await scheme.verify(request, identity)
        assert asked == ["blocks_info"]
        prepared = await scheme.prepare(request, identity)
        await scheme.broadcast(prepared)
        assert (await scheme.confirm(prepared, 10)).status is Confirmation.CONFIRMED
        asked.clear()
        with pytest.raises(Invalid) as settled:
            await scheme.verify(request, identity)
        assert settled.value.reason == Reason.BLOCK_ALREADY_EXISTS
        assert asked == ["blocks_info", "account_info", "block_info"]
    finally:
        await scheme.close()


async def test_a_block_built_on_another_accounts_frontier_is_refused(
    nano_rpc, nano_devnet, nano_funded_account
):
    """A stranger names a richer account's confirmed frontier as `previous`: that block has no successor
    and a large balance, but it is not the payer's, so the payment is not valid."""
    payer = await nano_funded_account(XNO)
    richer = await nano_funded_account(10 * XNO)
    pay_to = NanoAccount.generate()
    richer_state = await nano_rpc.call("account_info", account=richer.address, include_confirmed="true")
    block = await nano_send_block(
        nano_rpc,
        nano_devnet,
        payer,
        pay_to.public_key,
        1000,
        previous=bytes.fromhex(richer_state["confirmed_frontier"]),
        balance=int(richer_state["confirmed_balance"]),
    )
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, 1000), block.to_json())
    request = msgspec.convert(body, VerifyRequest)
    scheme = scheme_for(nano_devnet)
    try:
        identity = await scheme.identify(request)
        with pytest.raises(Invalid) as refused:
            await scheme.verify(request, identity)
        assert refused.value.reason == Reason.FRONTIER_MOVED
    finally:
        await scheme.close()
