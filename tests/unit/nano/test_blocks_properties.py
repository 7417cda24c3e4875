"""Property tests for the Nano decoders: blocks, addresses, hashes, raw amounts, work.

Any input gives a value or the module's own error (BlockError, AddressError, AmountError, WorkError),
and a value is exactly what the strict grammar allows: what parses, re-renders to an equal block.
"""

import os
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.properties import SETTINGS, json_scalars, json_values
from x402fac.nano import (
    AddressError,
    AmountError,
    BlockError,
    StateBlock,
    WorkError,
    decode_address,
    encode_address,
    parse_block,
    parse_hash,
    parse_raw,
    parse_work,
    public_key,
)

HEX = "0123456789abcdefABCDEF"
RAW = re.compile(r"0|[1-9][0-9]*")
WORK = re.compile(r"[0-9a-fA-F]{1,16}")
NANO_ALPHABET = "13456789abcdefghijkmnopqrstuwxyz"

scalars = json_scalars()
values = json_values(scalars)
# Text close to the grammars: their own characters, other digits and letters, whitespace, signs.
near_text = st.text(alphabet=HEX + NANO_ALPHABET + "_xX+- \n\t\u0663\uff10", max_size=70)
keys = st.binary(min_size=32, max_size=32)


def _signed_block() -> StateBlock:
    secret = os.urandom(32)
    block = StateBlock(public_key(secret), os.urandom(32), public_key(os.urandom(32)), 10**30, os.urandom(32))
    return block.signed(secret).with_work(0x1234)


BLOCK = _signed_block().to_json()
REQUIRED = {"type", "account", "previous", "representative", "balance", "link", "signature", "work"}


def parsed_or_refused(data: Any) -> StateBlock | None:
    try:
        block = parse_block(data)
    except BlockError as error:
        assert isinstance(error.field, str)
        return None
    assert parse_block(block.to_json()) == block
    assert parse_block(block.to_json("xrb_")) == block
    return block


@SETTINGS
@given(values)
def test_any_json_is_a_block_or_a_block_error(data: Any) -> None:
    parsed_or_refused(data)


@SETTINGS
@given(st.sampled_from(sorted(BLOCK)), values | near_text, st.booleans())
def test_a_block_with_one_field_swapped_or_removed(field: str, value: Any, remove: bool) -> None:
    data = dict(BLOCK)
    if remove:
        del data[field]
    else:
        data[field] = value
    block = parsed_or_refused(data)
    if remove and field in REQUIRED:
        assert block is None
    elif block is not None and field in ("account", "representative"):
        assert encode_address(getattr(block, field)) == value.replace("xrb_", "nano_", 1)


@SETTINGS
@given(keys, st.sampled_from(["nano_", "xrb_"]))
def test_addresses_round_trip(key: bytes, prefix: str) -> None:
    assert decode_address(encode_address(key, prefix)) == key


@SETTINGS
@given(st.one_of(near_text.map(lambda s: "nano_" + s), near_text, scalars))
def test_any_address_text_is_a_key_or_an_address_error(text: Any) -> None:
    try:
        key = decode_address(text)
    except AddressError:
        return
    assert encode_address(key) == text.replace("xrb_", "nano_", 1)


@SETTINGS
@given(keys, st.integers(0, 59), st.sampled_from(NANO_ALPHABET))
def test_a_changed_address_character_breaks_the_checksum(key: bytes, position: int, char: str) -> None:
    address = encode_address(key)
    index = len("nano_") + position
    changed = address[:index] + char + address[index + 1 :]
    if changed != address:
        with pytest.raises(AddressError):
            decode_address(changed)


@SETTINGS
@given(st.one_of(near_text, st.text(alphabet=HEX, min_size=63, max_size=65), scalars))
def test_hashes_are_exactly_64_hex_digits(text: Any) -> None:
    valid = isinstance(text, str) and re.fullmatch(r"[0-9a-fA-F]{64}", text) is not None
    try:
        value = parse_hash(text)
    except BlockError:
        assert not valid
        return
    assert valid and value == bytes.fromhex(text)


@SETTINGS
@given(
    st.one_of(
        st.integers(0, 2**129).map(str),
        st.text(alphabet="0123456789\u0663\uff10 +-_", max_size=40),
        scalars,
    )
)
def test_raw_amounts_are_canonical_ascii_decimals_below_2_128(text: Any) -> None:
    valid = isinstance(text, str) and RAW.fullmatch(text) is not None and int(text) < 2**128
    try:
        value = parse_raw(text)
    except AmountError:
        assert not valid
        return
    assert valid and value == int(text)


@SETTINGS
@given(st.one_of(near_text, st.integers(0, 2**64 - 1).map(lambda n: f"{n:x}"), scalars))
def test_work_is_1_to_16_hex_digits(text: Any) -> None:
    valid = isinstance(text, str) and WORK.fullmatch(text) is not None
    try:
        value = parse_work(text)
    except WorkError:
        assert not valid
        return
    assert valid and value == int(text, 16)


# ---- regressions found by these properties ----------------------------------------------------------


@pytest.mark.parametrize("work", ["0x1f", " 1f", "1_f", "+1f", "-1", "\u0661\u0662"])
def test_work_that_int_reads_but_is_not_hex_digits_is_refused(work: str) -> None:
    # int(text, 16) accepted a 0x prefix, spaces, underscores, signs and non-ASCII digits.
    with pytest.raises(BlockError, match="work"):
        parse_block({**BLOCK, "work": work})


@pytest.mark.parametrize("balance", ["1\u0662", "1\uff10", "\u0663"])
def test_non_ascii_digits_are_not_a_balance(balance: str) -> None:
    # `\d` matched every Unicode digit, and int() reads them: "1" + an Arabic-Indic 2 was 12 raw.
    with pytest.raises(BlockError, match="balance"):
        parse_block({**BLOCK, "balance": balance})
