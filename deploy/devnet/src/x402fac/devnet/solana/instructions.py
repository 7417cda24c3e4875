"""Instruction builders for the SPL programs the devnet ships (used by its setup, faucet and tests)."""

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from x402fac.solana import MEMO_PROGRAM as MEMO
from x402fac.solana import TOKEN_PROGRAM as TOKEN
from x402fac.solana import transfer_checked_data

ASSOCIATED_TOKEN = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")


def ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN) -> Pubkey:
    return get_associated_token_address(owner, mint, token_program)


def create_ata_idempotent(
    funder: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN
) -> Instruction:
    return Instruction(
        ASSOCIATED_TOKEN,
        bytes([1]),
        [
            AccountMeta(funder, True, True),
            AccountMeta(ata(owner, mint, token_program), False, True),
            AccountMeta(owner, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM, False, False),
            AccountMeta(token_program, False, False),
        ],
    )


def initialize_mint2(
    mint: Pubkey, decimals: int, authority: Pubkey, token_program: Pubkey = TOKEN
) -> Instruction:
    data = bytes([20, decimals]) + bytes(authority) + bytes([0])  # no freeze authority
    return Instruction(token_program, data, [AccountMeta(mint, False, True)])


def mint_to_checked(
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN,
) -> Instruction:
    return Instruction(
        token_program,
        bytes([14]) + amount.to_bytes(8, "little") + bytes([decimals]),
        [
            AccountMeta(mint, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def transfer_checked(
    source: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN,
) -> Instruction:
    return Instruction(
        token_program,
        transfer_checked_data(amount, decimals),
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(destination, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def memo(text: bytes) -> Instruction:
    return Instruction(MEMO, text, [])
