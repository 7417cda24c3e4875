"""Property tests for reading a Solana `exact` payment: v0 transactions, with and without lookup tables.

Whatever the client sends — any JSON, any bytes, a real payment with bytes changed, or a message
compiled from any instructions over static and lookup-table accounts — `read_payment` and
`check_signatures` answer a SolanaPayment or `Invalid` with a reason code, and `lookup_table_addresses` a
list of addresses or ValueError (which the scheme maps to `lookup_table_unresolved`).
"""

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey

from tests.fixtures.properties import SETTINGS, json_scalars, json_values
from tests.fixtures.solana import b64, partially_signed, usdc_payment
from x402fac.protocol import Reason
from x402fac.solana import (
    COMPUTE_BUDGET_PROGRAM,
    LOOKUP_TABLE_META_SIZE,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    compute_budget,
    fee_lamports,
)
from x402fac.worker import Invalid
from x402fac.worker_solana.transaction import (
    LIGHTHOUSE_PROGRAM,
    MEMO_PROGRAM,
    SolanaPayment,
    check_signatures,
    lookup_table_addresses,
    read_payment,
)

CAP = 5_000_000
REASONS = {reason.value for reason in Reason}
PAYER, FEE_PAYER = Keypair(), Keypair()
PAYMENT = usdc_payment(PAYER, Keypair().pubkey(), 10_000, FEE_PAYER.pubkey(), Hash.new_unique())
PAYMENT_BYTES = bytes(PAYMENT)
TABLE_KEY = Pubkey.new_unique()
TABLE_ADDRESSES = [Pubkey.new_unique() for _ in range(6)]

scalars = json_scalars(text_size=30)
values = json_values(scalars)


def read_or_invalid(encoded: Any) -> SolanaPayment | None:
    try:
        payment = read_payment(encoded, CAP)
    except Invalid as error:
        assert error.reason in REASONS
        return None
    keys = payment.static_keys
    assert payment.fee_payer == keys[0] and payment.payer in keys
    assert 0 <= payment.compute_unit_price <= CAP and 0 <= payment.compute_unit_limit <= 1_400_000
    assert payment.fee >= 5_000 and payment.transfer.program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
    # read from the layout as the runtime reads any message
    message = payment.transaction.message
    assert (payment.compute_unit_limit, payment.compute_unit_price) == compute_budget(message)
    assert payment.fee == fee_lamports(message)
    try:
        check_signatures(payment)
    except Invalid as error:
        assert error.reason in REASONS
    return payment


def test_the_unchanged_payment_reads() -> None:
    payment = read_or_invalid(b64(PAYMENT))
    assert payment is not None and payment.payer == PAYER.pubkey()
    check_signatures(payment)


@SETTINGS
@given(values)
def test_any_json_value_is_invalid(value: Any) -> None:
    if not isinstance(value, str):
        assert read_or_invalid(value) is None
    else:
        read_or_invalid(value)


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_read_or_are_invalid(data: bytes) -> None:
    read_or_invalid(base64.b64encode(data).decode())


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, len(PAYMENT_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_a_payment_with_bytes_changed_reads_or_is_invalid(changes: list[tuple[int, int]]) -> None:
    data = bytearray(PAYMENT_BYTES)
    for index, value in changes:
        data[index] = value
    read_or_invalid(base64.b64encode(bytes(data)).decode())


@SETTINGS
@given(st.integers(0, len(PAYMENT_BYTES)), st.binary(max_size=40))
def test_a_payment_cut_or_extended_reads_or_is_invalid(cut: int, tail: bytes) -> None:
    read_or_invalid(base64.b64encode(PAYMENT_BYTES[:cut] + tail).decode())


programs = st.sampled_from(
    [
        COMPUTE_BUDGET_PROGRAM,
        TOKEN_PROGRAM,
        TOKEN_2022_PROGRAM,
        MEMO_PROGRAM,
        LIGHTHOUSE_PROGRAM,
        Pubkey.new_unique(),
    ]
)
accounts = st.sampled_from([PAYER.pubkey(), FEE_PAYER.pubkey(), *TABLE_ADDRESSES, Pubkey.new_unique()])
instructions = st.builds(
    Instruction,
    programs,
    st.one_of(
        st.binary(max_size=12),
        st.tuples(st.sampled_from([2, 3, 12]), st.binary(max_size=10)).map(lambda t: bytes([t[0]]) + t[1]),
    ),
    st.lists(st.builds(AccountMeta, accounts, st.booleans(), st.booleans()), max_size=5),
)


@SETTINGS
@given(st.lists(instructions, max_size=8), st.booleans(), st.lists(st.integers(0, 5), max_size=3))
def test_any_instructions_over_static_and_lookup_accounts(
    ixs: list[Instruction], with_table: bool, signer_indexes: list[int]
) -> None:
    tables = [AddressLookupTableAccount(TABLE_KEY, TABLE_ADDRESSES)] if with_table else []
    try:
        message = MessageV0.try_compile(FEE_PAYER.pubkey(), ixs, tables, Hash.new_unique())
    except Exception:  # solders refuses to compile it: nothing a client could send
        return
    tx = partially_signed(message, [PAYER])
    payment = read_or_invalid(b64(tx))
    if payment is not None:
        assert payment.transfer.authority_index < message.header.num_required_signatures
        resolved = [*payment.static_keys, *tables_resolved(payment, tables)]
        assert all(index < len(resolved) for index in payment.account_indexes)


def tables_resolved(payment: SolanaPayment, tables: list[AddressLookupTableAccount]) -> list[Pubkey]:
    """What the scheme loads from the tables: writable, then read-only, as the runtime orders them."""
    by_key = {table.key: list(table.addresses) for table in tables}
    writable, readonly = [], []
    for lookup in payment.lookups:
        addresses = by_key[lookup.account_key]
        writable.extend(addresses[i] for i in bytes(lookup.writable_indexes))
        readonly.extend(addresses[i] for i in bytes(lookup.readonly_indexes))
    return [*writable, *readonly]


@SETTINGS
@given(st.binary(max_size=LOOKUP_TABLE_META_SIZE + 32 * 4 + 5))
def test_any_account_data_is_a_table_or_a_value_error(data: bytes) -> None:
    try:
        addresses = lookup_table_addresses(data)
    except ValueError:
        assert len(data) < LOOKUP_TABLE_META_SIZE or (len(data) - LOOKUP_TABLE_META_SIZE) % 32
        return
    assert len(addresses) == (len(data) - LOOKUP_TABLE_META_SIZE) // 32
    assert [bytes(a) for a in addresses] == [
        data[i : i + 32] for i in range(LOOKUP_TABLE_META_SIZE, len(data), 32)
    ]


@SETTINGS
@given(st.lists(st.binary(min_size=32, max_size=32).map(Pubkey.from_bytes), min_size=1, max_size=8))
def test_a_table_reads_back_its_addresses(addresses: list[Pubkey]) -> None:
    data = bytes(LOOKUP_TABLE_META_SIZE) + b"".join(bytes(a) for a in addresses)
    assert lookup_table_addresses(data) == addresses
