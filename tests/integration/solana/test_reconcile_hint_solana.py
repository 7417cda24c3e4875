"""A restarted worker judges a record it never saw from the hint the submitter stored (its blockhash)."""

from solders.hash import Hash
from solders.keypair import Keypair

from x402fac.protocol import Reason
from x402fac.worker import Confirmation, Submitted
from x402fac.worker_solana.config import network_from_devnet
from x402fac.worker_solana.exact import ExactSolanaScheme


async def test_unlanded_signature_with_an_expired_blockhash_is_dropped_only_with_the_hint(solana_devnet):
    info = solana_devnet.info()
    fresh = ExactSolanaScheme([network_from_devnet(info)], confirm_poll=0.05)  # no in-memory attempts
    network = info["network"]
    never_sent = str(Keypair().sign_message(b"never sent"))
    expired_blockhash = str(Hash.new_unique())  # never one of the cluster's
    try:
        unknown = await fresh.resolve(Submitted(never_sent, network, ""), 0.2)
        assert unknown.status is Confirmation.PENDING
        dropped = await fresh.resolve(Submitted(never_sent, network, expired_blockhash), 0.2)
        assert dropped.status is Confirmation.DROPPED
        assert dropped.reason == Reason.BLOCKHASH_EXPIRED
        # A live blockhash proves nothing yet: the transaction may still land.
        live = str(solana_devnet.chain.latest_blockhash)
        assert (await fresh.resolve(Submitted(never_sent, network, live), 0.2)).status is Confirmation.PENDING
    finally:
        await fresh.close()
