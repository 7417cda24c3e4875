"""Helpers the Solana integration tests share: the worker's configuration changed for one test, and
payments in Token-2022 mints."""

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey

from tests.fixtures.solana import ata_transfer, compute_limit, compute_price, partially_signed
from x402fac.devnet.solana import NETWORK, USDC_MINT
from x402fac.devnet.solana.instructions import TOKEN, memo
from x402fac.devnet.solana.token2022 import TOKEN_2022

UNCHANGED: Any = object()


@contextmanager
def counted_sends(solana_devnet) -> Iterator[Counter[str]]:
    """Counts sendTransaction per signature on the devnet node."""
    sends: Counter[str] = Counter()
    original = solana_devnet.rpc.methods["sendTransaction"]

    def counting_send(params):
        signature = original(params)
        sends[signature] += 1
        return signature

    solana_devnet.rpc.methods["sendTransaction"] = counting_send
    try:
        yield sends
    finally:
        solana_devnet.rpc.methods["sendTransaction"] = original


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


def exact_payment(
    payer: Keypair,
    pay_to: Pubkey,
    amount: int,
    fee_payer: Pubkey,
    blockhash,
    *,
    mint: Pubkey = USDC_MINT,
    program: Pubkey = TOKEN,
    decimals: int = 6,
    units: int = 20_000,
    price: int = 1,
):
    """The exact layout (compute limit `units`, compute price `price`, TransferChecked of `mint` under
    `program`, a random 32-character memo); the payer signs, the fee-payer slot stays empty."""
    instructions = [
        compute_limit(units),
        compute_price(price),
        ata_transfer(payer.pubkey(), pay_to, mint, amount, decimals, program),
        memo(os.urandom(16).hex().encode()),
    ]
    return partially_signed(MessageV0.try_compile(fee_payer, instructions, [], blockhash), [payer])


def token_2022_payment(
    payer: Keypair, pay_to: Pubkey, mint: Pubkey, amount: int, fee_payer: Pubkey, blockhash
):
    return exact_payment(payer, pay_to, amount, fee_payer, blockhash, mint=mint, program=TOKEN_2022)
