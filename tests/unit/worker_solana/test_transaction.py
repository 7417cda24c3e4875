"""Reading an `exact` payment from its bytes: layout, signatures, payment id, ATA derivation."""

import base64
import os

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from x402.mechanisms.svm.utils import derive_ata as official_derive_ata

from tests.fixtures.solana import (
    ata_transfer,
    b64,
    compute_limit,
    compute_price,
    partially_signed,
    usdc_payment,
)
from x402fac.protocol import Reason
from x402fac.solana import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, compute_budget, fee_lamports
from x402fac.worker import Invalid
from x402fac.worker_solana.transaction import (
    MEMO_PROGRAM,
    check_signatures,
    derive_ata,
    lookup_table_addresses,
    message_hash,
    read_payment,
    sign_fee_payer,
)

CAP = 5_000_000
PAYER, FEE_PAYER, PAY_TO = Keypair(), Keypair(), Keypair().pubkey()
BLOCKHASH = Hash.new_unique()
MINT = Pubkey.from_string("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")


def payment(**changes) -> VersionedTransaction:
    return usdc_payment(PAYER, PAY_TO, 10_000, FEE_PAYER.pubkey(), BLOCKHASH, **changes)


def reason_of(encoded) -> str:
    with pytest.raises(Invalid) as refused:
        read_payment(encoded, CAP)
    return refused.value.reason


def with_instructions(instructions, signers=(PAYER,)) -> str:
    message = MessageV0.try_compile(FEE_PAYER.pubkey(), instructions, [], BLOCKHASH)
    return b64(partially_signed(message, list(signers)))


def test_reads_the_official_layout():
    tx = payment(memo_bytes=b"order-1")
    read = read_payment(b64(tx), CAP)
    assert read.fee_payer == FEE_PAYER.pubkey()
    assert read.payer == PAYER.pubkey()
    assert read.transfer.amount == 10_000 and read.transfer.decimals == 6
    assert read.transfer.program == TOKEN_PROGRAM
    assert read.memo == b"order-1"
    assert read.compute_unit_price == 1 and read.compute_unit_limit == 20_000
    check_signatures(read)


def test_payment_id_ignores_the_fee_payer_slot():
    tx = payment()
    rewritten = VersionedTransaction.populate(tx.message, [Signature(os.urandom(64)), tx.signatures[1]])
    assert read_payment(b64(tx), CAP).payment_id == read_payment(b64(rewritten), CAP).payment_id
    assert read_payment(b64(tx), CAP).payment_id == message_hash(tx.message)
    assert read_payment(b64(payment()), CAP).payment_id != message_hash(tx.message)  # new memo, new payment


@pytest.mark.parametrize("garbage", ["", "not base64!", base64.b64encode(b"\x01\x02").decode(), 42])
def test_undecodable_payloads(garbage):
    assert reason_of(garbage) in (Reason.INVALID_PAYLOAD, Reason.INVALID_TRANSACTION)


def test_layout_refusals():
    limit, price = compute_limit(20_000), compute_price(1)
    memo = Instruction(MEMO_PROGRAM, os.urandom(16).hex().encode(), [])
    token_transfer = ata_transfer(PAYER.pubkey(), PAY_TO, MINT, 10_000, 6, TOKEN_PROGRAM)
    plain_transfer = Instruction(
        TOKEN_PROGRAM, bytes([3]) + (10_000).to_bytes(8, "little"), token_transfer.accounts
    )
    sol = transfer(TransferParams(from_pubkey=PAYER.pubkey(), to_pubkey=PAY_TO, lamports=1))

    assert reason_of(with_instructions([limit, price])) == Reason.INVALID_INSTRUCTIONS
    assert reason_of(with_instructions([limit, price, token_transfer, memo, memo, memo, memo, memo])) == (
        Reason.INVALID_INSTRUCTIONS
    )
    assert reason_of(with_instructions([price, limit, token_transfer, memo])) == Reason.INVALID_INSTRUCTIONS
    assert reason_of(with_instructions([limit, limit, token_transfer, memo])) == Reason.INVALID_INSTRUCTIONS
    assert reason_of(with_instructions([limit, compute_price(CAP + 1), token_transfer, memo])) == (
        Reason.COMPUTE_PRICE_TOO_HIGH
    )
    assert read_payment(with_instructions([limit, compute_price(CAP), token_transfer, memo]), CAP)
    assert reason_of(with_instructions([limit, price, plain_transfer, memo])) == Reason.INVALID_INSTRUCTIONS
    assert reason_of(with_instructions([limit, price, token_transfer, sol])) == Reason.UNKNOWN_INSTRUCTION
    assert reason_of(with_instructions([limit, price, token_transfer])) == Reason.MEMO_MISSING
    assert reason_of(with_instructions([limit, price, token_transfer, memo, memo])) == Reason.MEMO_MISMATCH


def test_token_2022_transfer_is_read():
    mint = Keypair().pubkey()
    ix = ata_transfer(PAYER.pubkey(), PAY_TO, mint, 5, 2, TOKEN_2022_PROGRAM)
    memo = Instruction(MEMO_PROGRAM, b"x" * 32, [])
    read = read_payment(with_instructions([compute_limit(1), compute_price(0), ix, memo]), CAP)
    assert read.transfer.program == TOKEN_2022_PROGRAM


def test_signatures_other_than_the_fee_payer_are_checked():
    tx = payment()
    check_signatures(read_payment(b64(tx), CAP))
    unsigned = partially_signed(tx.message, [])
    with pytest.raises(Invalid) as refused:
        check_signatures(read_payment(b64(unsigned), CAP))
    assert refused.value.reason == Reason.MISSING_SIGNATURE
    forged = VersionedTransaction.populate(tx.message, [Signature.default(), Keypair().sign_message(b"x")])
    with pytest.raises(Invalid):
        check_signatures(read_payment(b64(forged), CAP))


def test_authority_must_sign():
    someone = Keypair().pubkey()
    ix = Instruction(
        TOKEN_PROGRAM,
        bytes([12]) + (1).to_bytes(8, "little") + bytes([6]),
        [
            AccountMeta(derive_ata(someone, MINT, TOKEN_PROGRAM), False, True),
            AccountMeta(MINT, False, False),
            AccountMeta(derive_ata(PAY_TO, MINT, TOKEN_PROGRAM), False, True),
            AccountMeta(someone, False, False),
        ],
    )
    memo = Instruction(MEMO_PROGRAM, b"y" * 32, [])
    assert (
        reason_of(with_instructions([compute_limit(1), compute_price(0), ix, memo]))
        == Reason.MISSING_SIGNATURE
    )


def test_signing_the_fee_payer_slot_completes_the_transaction():
    tx = payment()
    read = read_payment(b64(tx), CAP)
    signed = sign_fee_payer(tx, read.signed_message, FEE_PAYER)
    assert signed.verify_with_results() == [True, True]
    assert message_hash(signed.message) == read.payment_id


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM])
def test_ata_derivation_matches_the_official_sdk(program):
    owner, mint = Keypair().pubkey(), Keypair().pubkey()
    assert str(derive_ata(owner, mint, program)) == official_derive_ata(str(owner), str(mint), str(program))


def test_lookup_table_addresses():
    keys = [Keypair().pubkey() for _ in range(3)]
    data = bytes(56) + b"".join(bytes(k) for k in keys)
    assert lookup_table_addresses(data) == keys
    with pytest.raises(ValueError):
        lookup_table_addresses(bytes(57))


def test_compute_budget_and_fee_as_the_runtime_applies_them():
    memo = Instruction(MEMO_PROGRAM, b"z" * 32, [])
    read = read_payment(b64(payment(price=5_000_000)), CAP)
    assert (read.compute_unit_limit, read.compute_unit_price) == (20_000, 5_000_000)
    assert read.fee == 2 * 5_000 + 100_000  # two signatures + 5,000,000 x 20,000 / 10^6
    # Without SetComputeUnitLimit the runtime grants 200,000 units per other instruction.
    message = MessageV0.try_compile(FEE_PAYER.pubkey(), [compute_price(10), memo, memo], [], BLOCKHASH)
    assert compute_budget(message) == (400_000, 10)
    assert fee_lamports(message) == 5_000 + 4  # 400,000 x 10 / 10^6
    # A limit above what the runtime allows counts as the runtime's maximum; rounding is up.
    message = MessageV0.try_compile(
        FEE_PAYER.pubkey(), [compute_limit(2_000_000), compute_price(1), memo], [], BLOCKHASH
    )
    assert compute_budget(message) == (1_400_000, 1)
    assert fee_lamports(message) == 5_000 + 2  # 1.4 lamports, rounded up
