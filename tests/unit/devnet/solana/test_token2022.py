"""Token-2022 mints with extensions on the devnet (the real Token-2022 program), read back by the
worker's mint reader: the extensions it flags, and transfer fees computed as Token-2022 does."""

import pytest
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from tests.fixtures.solana import ata_transfer
from x402fac.devnet.solana import SolanaDevnet
from x402fac.devnet.solana.token2022 import (
    TOKEN_2022,
    confidential_transfer,
    create_mint_2022,
    non_transferable,
    pausable,
    permanent_delegate,
    token_2022_balance,
    transfer_fee,
    transfer_hook,
)
from x402fac.worker_solana.mint import read_mint


@pytest.fixture(scope="module")
def devnet() -> SolanaDevnet:
    return SolanaDevnet(payers=0, fee_payers=1)  # the chain alone, no RPC server


def _mint(devnet, mint):
    account = devnet.chain.account(mint)
    return read_mint(str(account.owner), bytes(account.data))


AUTHORITY = Keypair().pubkey()
CASES = {
    "transfer_fee": [transfer_fee(100, 10**9, AUTHORITY)],
    "transfer_hook": [transfer_hook(Keypair().pubkey(), AUTHORITY)],
    "permanent_delegate": [permanent_delegate(AUTHORITY)],
    "pausable": [pausable(AUTHORITY)],
    "non_transferable": [non_transferable()],
    "confidential_transfer": [confidential_transfer(AUTHORITY)],
}


@pytest.mark.parametrize("name", CASES)
def test_each_risky_extension_is_created_and_recognised(devnet, name):
    mint = _mint(devnet, create_mint_2022(devnet, CASES[name], decimals=2))
    assert mint is not None and mint.program == TOKEN_2022 and mint.decimals == 2
    assert mint.extensions == {name}


def test_plain_and_zero_fee_mints_are_not_flagged(devnet):
    assert _mint(devnet, create_mint_2022(devnet, [])).extensions == frozenset()
    zero_fee = _mint(devnet, create_mint_2022(devnet, [transfer_fee(0, 0, AUTHORITY)]))
    assert zero_fee.extensions == frozenset() and zero_fee.has_fee_config
    both = _mint(
        devnet, create_mint_2022(devnet, [transfer_fee(5, 7, AUTHORITY), permanent_delegate(AUTHORITY)])
    )
    assert both.extensions == {"transfer_fee", "permanent_delegate"}


def test_transfer_fee_is_what_the_program_withholds(devnet):
    payer, pay_to = Keypair(), Keypair().pubkey()
    devnet.chain.airdrop(payer.pubkey(), 10**9)
    address = create_mint_2022(
        devnet, [transfer_fee(100, 150, AUTHORITY)], holders={payer.pubkey(): 10**6}, accounts_for=(pay_to,)
    )
    mint = _mint(devnet, address)
    assert mint.fee(10_102, None) == 102  # 1% rounded up
    assert mint.fee(1_000_000, None) == 150  # capped at the maximum fee
    for amount, received in ((10_102, 10_000), (1_000, 990)):
        before = token_2022_balance(devnet, pay_to, address)
        ix = ata_transfer(payer.pubkey(), pay_to, address, amount, 6, TOKEN_2022)
        tx = VersionedTransaction(
            MessageV0.try_compile(payer.pubkey(), [ix], [], devnet.chain.latest_blockhash), [payer]
        )
        assert devnet.chain.process(tx, bytes(tx)).execution.err is None
        assert (
            token_2022_balance(devnet, pay_to, address) - before
            == received
            == amount - mint.fee(amount, None)
        )
