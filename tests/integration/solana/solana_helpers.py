"""Helpers the Solana integration tests share: the worker's configuration changed for one test, and
payments in Token-2022 mints."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey

from tests.fixtures.solana import compute_limit, compute_price, partially_signed
from x402fac.devnet.solana import NETWORK
from x402fac.devnet.solana.instructions import ata, memo, transfer_checked
from x402fac.devnet.solana.token2022 import TOKEN_2022

UNCHANGED: Any = object()


@contextmanager
def configured(scheme, assets: Any = UNCHANGED, **limits: Any) -> Iterator[None]:
    """The running worker serves the devnet with `assets` (None: any mint) and these `Limits` fields."""
    runtime = scheme.runtimes[NETWORK]
    original = runtime.config
    config = original if assets is UNCHANGED else replace(original, assets=assets)
    if limits:
        config = replace(config, limits=replace(config.limits, **limits))
    runtime.config = config
    try:
        yield
    finally:
        runtime.config = original


def token_2022_payment(
    payer: Keypair,
    pay_to: Pubkey,
    mint: Pubkey,
    amount: int,
    fee_payer: Pubkey,
    blockhash,
    *,
    decimals: int = 6,
    units: int = 20_000,
    price: int = 1,
):
    """The exact layout (the official client's 20,000 compute units) paying `amount` of a Token-2022
    `mint`; the payer signs, the fee-payer slot stays empty."""
    instructions = [
        compute_limit(units),
        compute_price(price),
        transfer_checked(
            ata(payer.pubkey(), mint, TOKEN_2022),
            mint,
            ata(pay_to, mint, TOKEN_2022),
            payer.pubkey(),
            amount,
            decimals,
            TOKEN_2022,
        ),
        memo(b"0123456789abcdef0123456789abcdef"),
    ]
    return partially_signed(MessageV0.try_compile(fee_payer, instructions, [], blockhash), [payer])
