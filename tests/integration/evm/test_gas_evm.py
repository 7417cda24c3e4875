"""The gas limit of a settlement is proven by executing the transfer with it: gas estimation the first
time a token is settled, then one eth_call at the need found so far (+ margin); a payment that needs
more, or that fails, goes back to estimation and its precise diagnosis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from tests.fixtures.evm import CountingProxy, funded_payer, funded_signer_key, payment_request, settle
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.protocol import Reason
from x402fac.worker import Invalid
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme


@pytest.fixture
async def counted(evm_devnet):
    """A scheme with its own signer whose RPC goes through a proxy counting the methods asked."""
    key = await funded_signer_key(evm_devnet)
    async with CountingProxy(evm_devnet["rpcUrl"]) as proxy:
        config = replace(network_from_devnet(evm_devnet), signer_keys=(key,), rpc_urls=(proxy.url,))
        scheme = ExactEvmScheme([config])
        yield scheme, proxy
        await scheme.close()


async def gas_of(info: dict, tx_hash: str) -> tuple[int, int]:
    """(gas limit, gas used) of a mined transaction."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        sent = await rpc.call("eth_getTransactionByHash", tx_hash)
        receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
    return int(sent["gas"], 16), int(receipt["gasUsed"], 16)


async def test_known_token_is_sent_after_one_call_at_its_known_need(evm_devnet, counted):
    scheme, proxy = counted
    payer = await funded_payer(evm_devnet)
    await settle(scheme, payment_request(evm_devnet, payer, Account.create().address, 100))
    assert "eth_estimateGas" in proxy.methods  # nothing known of the token yet
    [network] = scheme.runtimes.values()
    known = network.gas_needed[evm_devnet["usdc"]["address"].lower()]

    proxy.methods.clear()
    second, gas = await settle(scheme, payment_request(evm_devnet, payer, Account.create().address, 200))
    assert "eth_estimateGas" not in proxy.methods
    assert proxy.methods.count("eth_call") == 1  # the transfer, executed with the limit it carries
    assert gas == known * 125 // 100  # the default 25 % margin on the need found before
    limit, used = await gas_of(evm_devnet, second)
    # another payment's calldata (nonce, signature, recipient bytes) costs a few gas more or less
    assert limit == gas and used < gas and abs(used - known) < known // 100


async def test_a_payment_needing_more_than_known_goes_back_to_estimation(evm_devnet, counted):
    scheme, proxy = counted
    payer = await funded_payer(evm_devnet)
    [network] = scheme.runtimes.values()
    token = evm_devnet["usdc"]["address"].lower()
    network.gas_needed[token] = 21_000  # far too little for any token transfer
    proxy.methods.clear()
    tx_hash, gas = await settle(scheme, payment_request(evm_devnet, payer, Account.create().address, 300))
    assert proxy.methods.count("eth_estimateGas") == 1
    limit, used = await gas_of(evm_devnet, tx_hash)
    assert limit == gas and used < gas
    assert network.gas_needed[token] > 21_000  # learnt: the next one is a single call again


async def test_a_used_authorization_is_diagnosed_as_before(evm_devnet, counted):
    """The cheap call fails for a payment already settled; estimation names the precise reason and
    nothing is signed."""
    scheme, _ = counted
    payer = await funded_payer(evm_devnet)
    request = payment_request(evm_devnet, payer, Account.create().address, 400)
    await settle(scheme, request)  # the token's need is known from here on
    identity = await scheme.identify(request)
    with pytest.raises(Invalid) as refused:
        await scheme.verify_for_settle(request, identity)
    assert refused.value.reason == Reason.NONCE_ALREADY_USED
    [signer] = next(iter(scheme.runtimes.values())).signers
    assert signer.nonces.in_flight == 0
