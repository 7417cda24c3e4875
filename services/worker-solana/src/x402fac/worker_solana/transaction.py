"""Reading an x402 `exact` Solana payment from its bytes alone (no chain access).

The layout a facilitator accepts (as the official x402 SVM scheme defines it):
  0  ComputeBudget SetComputeUnitLimit
  1  ComputeBudget SetComputeUnitPrice (<= the configured cap)
  2  TransferChecked on SPL Token or Token-2022
  3+ Memo or Lighthouse only (up to 7 instructions in all), exactly one Memo.
The fee payer (first static account) is the facilitator, which signs last.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from solders.hash import Hash
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from x402fac.protocol import Reason
from x402fac.solana import (
    COMPUTE_BUDGET_PROGRAM,
    LOOKUP_TABLE_META_SIZE,
    MAX_COMPUTE_UNIT_LIMIT,
    MEMO_PROGRAM,
    SET_COMPUTE_UNIT_LIMIT,
    SET_COMPUTE_UNIT_PRICE,
    TOKEN_PROGRAMS,
    TRANSFER_CHECKED,
    fee_of,
)
from x402fac.worker import Invalid

LIGHTHOUSE_PROGRAM = Pubkey.from_string("L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95")
MIN_INSTRUCTIONS = 3
MAX_INSTRUCTIONS = 7


class TransferChecked(NamedTuple):
    """Instruction 2, its accounts then its data in their order. Indexes point into the full account
    list (static keys, then lookup-loaded)."""

    program: Pubkey
    source_index: int
    mint_index: int
    destination_index: int
    authority_index: int
    amount: int
    decimals: int


@dataclass(frozen=True, slots=True)
class SolanaPayment:
    """A decoded payment transaction and everything checked without the chain."""

    transaction: VersionedTransaction
    signed_message: bytes  # the bytes every signer signs (versioned serialization)
    payment_id: str
    fee_payer: Pubkey
    payer: Pubkey  # the transfer authority (a signer, so a static key)
    transfer: TransferChecked
    compute_unit_limit: int  # as the runtime applies it
    compute_unit_price: int
    fee: int  # lamports the fee payer is charged
    memo: bytes
    account_indexes: tuple[int, ...]  # every account index any instruction names
    static_keys: tuple[Pubkey, ...]  # the message's own account keys (lookup-loaded ones follow them)

    @property
    def blockhash(self) -> Hash:
        return self.transaction.message.recent_blockhash

    @property
    def lookups(self) -> list:
        message = self.transaction.message
        return list(message.address_table_lookups) if isinstance(message, MessageV0) else []


def message_hash(message: Message | MessageV0) -> str:
    """The payment id: sha256 of the message, which every signer commits to (the fee-payer slot
    can be rewritten without changing it, so it identifies the payment however it is re-signed)."""
    return payment_id_of(to_bytes_versioned(message))


def payment_id_of(signed_message: bytes) -> str:
    """`message_hash` of the message whose versioned serialization is `signed_message`."""
    return hashlib.sha256(signed_message).hexdigest()


@lru_cache(maxsize=4096)  # a payee is paid again and again: a derivation (~6 µs) per payee and mint
def derive_ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint, token_program)


def decode(encoded: object) -> VersionedTransaction:
    if not isinstance(encoded, str) or not encoded:
        raise Invalid(Reason.INVALID_PAYLOAD, 'payload must be {"transaction": <base64 transaction>}')
    try:
        tx = VersionedTransaction.from_bytes(base64.b64decode(encoded, validate=True))
        tx.sanitize()
    except Exception as exc:  # base64, bincode and sanitize errors alike
        raise Invalid(Reason.INVALID_TRANSACTION, f"transaction could not be decoded: {exc}") from None
    return tx


def _compute_limit(data: bytes) -> int:
    """The units instruction 0 asks for, as the runtime grants them (`x402fac.solana.compute_budget`:
    the layout leaves no other compute budget instruction to read)."""
    if len(data) != 5 or data[0] != SET_COMPUTE_UNIT_LIMIT:
        raise Invalid(Reason.INVALID_INSTRUCTIONS, "instruction 0 must be ComputeBudget SetComputeUnitLimit")
    return min(int.from_bytes(data[1:5], "little"), MAX_COMPUTE_UNIT_LIMIT)


def _compute_price(data: bytes) -> int:
    if len(data) != 9 or data[0] != SET_COMPUTE_UNIT_PRICE:
        raise Invalid(Reason.INVALID_INSTRUCTIONS, "instruction 1 must be ComputeBudget SetComputeUnitPrice")
    return int.from_bytes(data[1:9], "little")


def read_payment(encoded: object, max_compute_unit_price: int) -> SolanaPayment:
    """Decode and check the layout; Invalid with the precise reason for the first thing wrong."""
    tx = decode(encoded)
    message = tx.message
    keys = message.account_keys
    instructions = message.instructions
    if not MIN_INSTRUCTIONS <= len(instructions) <= MAX_INSTRUCTIONS:
        raise Invalid(
            Reason.INVALID_INSTRUCTIONS,
            f"{len(instructions)} instructions; the exact scheme takes {MIN_INSTRUCTIONS} to {MAX_INSTRUCTIONS}",
        )
    # Program ids must be static keys (the runtime forbids loading them from lookup tables).
    programs = []
    for index, ix in enumerate(instructions):
        if ix.program_id_index >= len(keys):
            raise Invalid(Reason.INVALID_INSTRUCTIONS, f"instruction {index} names a program out of range")
        programs.append(keys[ix.program_id_index])

    if programs[0] != COMPUTE_BUDGET_PROGRAM:
        raise Invalid(Reason.INVALID_INSTRUCTIONS, "instruction 0 must be ComputeBudget SetComputeUnitLimit")
    limit = _compute_limit(bytes(instructions[0].data))
    if programs[1] != COMPUTE_BUDGET_PROGRAM:
        raise Invalid(Reason.INVALID_INSTRUCTIONS, "instruction 1 must be ComputeBudget SetComputeUnitPrice")
    price = _compute_price(bytes(instructions[1].data))
    if price > max_compute_unit_price:
        raise Invalid(
            Reason.COMPUTE_PRICE_TOO_HIGH,
            f"compute unit price {price} micro-lamports is above the cap of {max_compute_unit_price}",
        )

    transfer_ix = instructions[2]
    data = bytes(transfer_ix.data)
    accounts = bytes(transfer_ix.accounts)
    if (
        programs[2] not in TOKEN_PROGRAMS
        or len(data) != 10
        or data[0] != TRANSFER_CHECKED
        or len(accounts) < 4
    ):
        raise Invalid(
            Reason.INVALID_INSTRUCTIONS, "instruction 2 must be SPL Token / Token-2022 TransferChecked"
        )
    # Laid out as `x402fac.solana.transfer_checked_data` says: accounts source, mint, destination,
    # authority; data the tag, the amount (u64, little-endian), the decimals.
    transfer = TransferChecked(programs[2], *accounts[:4], int.from_bytes(data[1:9], "little"), data[9])

    memos = []
    for index in range(3, len(instructions)):
        if programs[index] == MEMO_PROGRAM:
            memos.append(bytes(instructions[index].data))
        elif programs[index] != LIGHTHOUSE_PROGRAM:
            raise Invalid(
                Reason.UNKNOWN_INSTRUCTION,
                f"instruction {index} calls {programs[index]}; only Memo and Lighthouse may follow the transfer",
            )
    if not memos:
        raise Invalid(Reason.MEMO_MISSING, "the exact scheme requires a Memo instruction")
    if len(memos) > 1:
        raise Invalid(Reason.MEMO_MISMATCH, f"{len(memos)} Memo instructions; exactly one is allowed")

    signers = message.header.num_required_signatures
    if transfer.authority_index >= signers:
        raise Invalid(Reason.MISSING_SIGNATURE, "the transfer authority does not sign the transaction")
    signed = to_bytes_versioned(message)
    return SolanaPayment(
        transaction=tx,
        signed_message=signed,
        payment_id=payment_id_of(signed),
        fee_payer=keys[0],
        payer=keys[transfer.authority_index],
        transfer=transfer,
        compute_unit_limit=limit,
        compute_unit_price=price,
        fee=fee_of(limit, price, signers),
        memo=memos[0],
        account_indexes=tuple(sorted({i for ix in instructions for i in bytes(ix.accounts)})),
        static_keys=tuple(keys),
    )


def check_signatures(payment: SolanaPayment) -> None:
    """Every required signature but the fee payer's (slot 0, ours to fill) is present and valid."""
    tx = payment.transaction
    keys = payment.static_keys
    for index in range(1, tx.message.header.num_required_signatures):
        signature = tx.signatures[index]
        if signature == Signature.default():
            raise Invalid(
                Reason.MISSING_SIGNATURE,
                f"signature {index} ({keys[index]}) is missing",
                payer=str(payment.payer),
            )
        if not signature.verify(keys[index], payment.signed_message):
            raise Invalid(
                Reason.INVALID_SIGNATURE,
                f"signature {index} is not {keys[index]}'s signature of the message",
                payer=str(payment.payer),
            )


def lookup_table_addresses(data: bytes) -> list[Pubkey]:
    """The addresses an address lookup table account holds (after its 56-byte header)."""
    if len(data) < LOOKUP_TABLE_META_SIZE or (len(data) - LOOKUP_TABLE_META_SIZE) % 32:
        raise ValueError("not address lookup table data")
    return [
        Pubkey.from_bytes(data[offset : offset + 32])
        for offset in range(LOOKUP_TABLE_META_SIZE, len(data), 32)
    ]


def sign_fee_payer(tx: VersionedTransaction, signed_message: bytes, keypair) -> VersionedTransaction:
    """The transaction with our signature in slot 0 (every other slot as the client signed it)."""
    signatures = list(tx.signatures)
    signatures[0] = keypair.sign_message(signed_message)
    return VersionedTransaction.populate(tx.message, signatures)
