"""What the runtime charges a message (the worker prices payments with it, the devnet charges it)."""

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0

from tests.fixtures.solana import compute_limit, compute_price
from x402fac.solana import fee_lamports


def test_fee_is_base_per_signature_plus_rounded_up_priority():
    payer = Keypair().pubkey()
    ixs = [compute_limit(20_000), compute_price(5_000_000)]
    message = MessageV0.try_compile(payer, ixs, [], Hash.default())
    assert fee_lamports(message) == 5000 + 100_000
    one = MessageV0.try_compile(payer, [compute_limit(20_000), compute_price(1)], [], Hash.default())
    assert fee_lamports(one) == 5000 + 1
