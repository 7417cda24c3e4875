"""A restarted worker judges a record it never saw from the hint the submitter stored (sender/nonce)."""

import os
from dataclasses import replace

from eth_account import Account

from tests.fixtures.evm import funded_signer_key
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.worker import Confirmation, Submitted
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme

NETWORK = "eip155:84532"


async def test_unknown_tx_whose_nonce_was_used_is_dropped_only_with_the_hint(evm_devnet):
    key = await funded_signer_key(evm_devnet)
    signer = Account.from_key(key).address
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:  # nonce 0 goes to another transaction
        await rpc.call("anvil_impersonateAccount", signer)
        sent = await rpc.call("eth_sendTransaction", {"from": signer, "to": signer, "value": "0x0"})
        await rpc.wait_receipt(sent)
    # A new process: no nonce memory; the record it judges was prepared with nonce 0 and never sent.
    fresh = ExactEvmScheme([replace(network_from_devnet(evm_devnet), signer_keys=(key,))])
    never_sent = "0x" + os.urandom(32).hex()
    try:
        assert (await fresh.resolve(Submitted(never_sent, NETWORK, ""), 0.2)).status is Confirmation.PENDING
        dropped = await fresh.resolve(Submitted(never_sent, NETWORK, f"{signer}/0"), 0.2)
        assert dropped.status is Confirmation.DROPPED
        assert "nonce 0" in dropped.message
        later_nonce = await fresh.resolve(Submitted(never_sent, NETWORK, f"{signer}/1"), 0.2)
        assert later_nonce.status is Confirmation.PENDING
    finally:
        await fresh.close()
