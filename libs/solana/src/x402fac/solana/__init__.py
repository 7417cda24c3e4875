"""Solana without a cluster: the programs a payment names, the layout of its transfer, and what the
runtime grants and charges a message by its compute-budget instructions. The worker prices a payment with it before paying its
fee; the devnet, running as a cluster, charges the same.
"""

from __future__ import annotations

from solders.message import Message, MessageV0
from solders.pubkey import Pubkey

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
ADDRESS_LOOKUP_TABLE_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")

TRANSFER_CHECKED = 12  # the SPL Token (and Token-2022) instruction tag

# ComputeBudget instruction tags
SET_COMPUTE_UNIT_LIMIT = 2
SET_COMPUTE_UNIT_PRICE = 3
DEFAULT_UNITS_PER_INSTRUCTION = 200_000  # what the runtime grants without SetComputeUnitLimit
MAX_COMPUTE_UNIT_LIMIT = 1_400_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
LAMPORTS_PER_SIGNATURE = 5_000
LOOKUP_TABLE_META_SIZE = 56  # an address lookup table's header, before its addresses


def transfer_checked_data(amount: int, decimals: int) -> bytes:
    """A TransferChecked instruction's data: the tag, the amount (u64, little-endian), the decimals.
    Its accounts: source, mint, destination, authority (multisig signers may follow)."""
    return bytes([TRANSFER_CHECKED]) + amount.to_bytes(8, "little") + bytes([decimals])


def compute_budget(message: Message | MessageV0) -> tuple[int, int]:
    """(compute unit limit, micro-lamports per unit) as the runtime applies them: without
    SetComputeUnitLimit it grants 200,000 units per instruction other than compute budget ones."""
    keys = message.account_keys
    limit: int | None = None
    price = 0
    others = 0
    for ix in message.instructions:
        data = bytes(ix.data)
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM:
            others += 1
        elif data[:1] == bytes([SET_COMPUTE_UNIT_LIMIT]) and len(data) >= 5:
            limit = int.from_bytes(data[1:5], "little")
        elif data[:1] == bytes([SET_COMPUTE_UNIT_PRICE]) and len(data) >= 9:
            price = int.from_bytes(data[1:9], "little")
    if limit is None:
        limit = DEFAULT_UNITS_PER_INSTRUCTION * others
    return min(limit, MAX_COMPUTE_UNIT_LIMIT), price


def fee_lamports(message: Message | MessageV0) -> int:
    """What the fee payer is charged: 5,000 lamports per signature plus price x limit / 10^6 (rounded up)."""
    return fee_of(*compute_budget(message), message.header.num_required_signatures)


def fee_of(limit: int, price: int, signatures: int) -> int:
    """`fee_lamports` of a message whose `compute_budget` is (limit, price), with that many signatures."""
    priority = -(-limit * price // MICRO_LAMPORTS_PER_LAMPORT)
    return LAMPORTS_PER_SIGNATURE * signatures + priority
