"""What a settle asks of the node: a Permit2 settlement executed once (its payer's state read only
when that execution reverts, to say why), one nonce count for a settle of an idle signer, and
receipts asked about once a block on a chain with block times, not once a poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import CountingProxy, funded_payer, funded_signer_key, payment_request, settle
from tests.fixtures.permit2 import TOKEN_UNIT, permit2_body, permit2_payer
from x402fac.devnet.evm import ERC20_ADDRESS
from x402fac.protocol import Reason, VerifyRequest
from x402fac.worker import Invalid
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme


@asynccontextmanager
async def counted(info: dict, **changes) -> AsyncIterator[tuple[ExactEvmScheme, CountingProxy]]:
    """A scheme with its own signer whose RPC goes through a proxy counting the methods asked."""
    key = await funded_signer_key(info)
    async with CountingProxy(info["rpcUrl"]) as proxy:
        config = replace(network_from_devnet(info), signer_keys=(key,), rpc_urls=(proxy.url,), **changes)
        scheme = ExactEvmScheme([config], confirm_poll=0.075)
        try:
            yield scheme, proxy
        finally:
            await scheme.close()


async def test_a_permit2_settlement_is_executed_once_and_a_spent_nonce_still_says_why(evm_devnet):
    info = evm_devnet
    async with counted(info, allowed_assets=frozenset({ERC20_ADDRESS.lower()})) as (scheme, proxy):
        payer = await permit2_payer(info, ERC20_ADDRESS)
        pay_to = Account.create().address

        def request(amount: int) -> VerifyRequest:
            return msgspec.convert(permit2_body(info, payer, ERC20_ADDRESS, pay_to, amount), VerifyRequest)

        await settle(scheme, request(TOKEN_UNIT))  # the token's gas need is learnt
        proxy.methods.clear()
        paid = request(2 * TOKEN_UNIT)
        await settle(scheme, paid)
        # the settlement executed once, at the gas it carries; no separate reads of the payer's state
        assert proxy.methods.count("eth_call") == 1, proxy.methods
        assert "eth_estimateGas" not in proxy.methods

        identity = await scheme.identify(paid)
        with pytest.raises(Invalid) as refused:  # the same authorization again: its nonce is spent
            await scheme.verify_for_settle(paid, identity)
        assert refused.value.reason == Reason.PERMIT2_INVALID_NONCE


async def test_a_settle_of_an_idle_signer_asks_one_nonce_count(evm_devnet):
    info = evm_devnet
    async with counted(info) as (scheme, proxy):
        payer = await funded_payer(info)
        pay_to = Account.create().address
        for amount in (100, 200, 300):  # one after the other: the signer is idle at each
            await settle(scheme, payment_request(info, payer, pay_to, amount))
        # its pending count (the next nonce); the latest one matters only with transactions in flight
        assert 1 <= proxy.methods.count("eth_getTransactionCount") <= 3, proxy.methods


async def test_on_a_chain_with_blocks_receipts_are_asked_about_once_a_block(evm_devnet_1s):
    info = evm_devnet_1s
    async with counted(info) as (scheme, proxy):
        payer = await funded_payer(info)
        pay_to = Account.create().address
        await settle(scheme, payment_request(info, payer, pay_to, 100))  # the gas need is learnt
        proxy.methods.clear()
        requests = [payment_request(info, payer, pay_to, 200 + i) for i in range(8)]
        settled = await asyncio.gather(*(settle(scheme, r) for r in requests))
        assert len({tx for tx, _ in settled}) == 8
        polls = proxy.methods.count("eth_blockNumber")
        receipts = proxy.methods.count("eth_getTransactionReceipt")
        # ~13 polls of 75 ms a block; a transaction waits at most a block or two of 1 s
        assert polls >= 8, proxy.methods
        assert receipts <= 8 * 4, (receipts, polls)
