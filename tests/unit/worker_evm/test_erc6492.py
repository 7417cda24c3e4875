"""The ERC-6492 wrapper and Multicall3 `aggregate3` codec, without a chain.

`unwrap` gives None for an unwrapped signature, the parts of a well-formed wrapper, and a
WrapperError (never anything else) for any bytes ending in the magic suffix.
"""

import os

import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from x402fac.worker_evm import erc6492
from x402fac.worker_evm.erc6492 import SUFFIX, Wrapped, WrapperError, unwrap

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FACTORY = "0x6492faC000000000000000000000000000006492"


def wrapper(factory: str, calldata: bytes, inner: bytes) -> bytes:
    return encode(["address", "bytes", "bytes"], [factory, calldata, inner]) + SUFFIX


def test_suffix_and_selector_are_the_standard_ones() -> None:
    assert SUFFIX == bytes.fromhex("6492649264926492649264926492649264926492649264926492649264926492")
    assert erc6492.AGGREGATE3_SELECTOR == keccak(b"aggregate3((address,bool,bytes)[])")[:4]


def test_unwrap_a_wrapper_and_leave_plain_signatures_alone() -> None:
    inner = os.urandom(65)
    assert unwrap(wrapper(FACTORY, b"\x01\x02", inner)) == Wrapped(FACTORY, b"\x01\x02", inner)
    assert unwrap(inner) is None
    assert unwrap(SUFFIX) is None  # the suffix alone wraps nothing: an ordinary (bad) signature


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (os.urandom(96) + SUFFIX, "is not abi.encode"),
        (wrapper("0x" + "00" * 20, b"\x01", os.urandom(65)), "names no factory"),
        (wrapper(FACTORY, b"", os.urandom(65)), "no factory calldata"),
        (wrapper(FACTORY, b"\x01", b""), "empty inner signature"),
        (
            wrapper(FACTORY, b"\x01", os.urandom(65))[:-32] + b"\x00" * 32 + SUFFIX,
            "beyond its encoded wrapper",
        ),
    ],
)
def test_garbage_wrappers_say_what_is_wrong(signature: bytes, message: str) -> None:
    with pytest.raises(WrapperError, match=message):
        unwrap(signature)


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_with_the_suffix_unwrap_or_raise_wrapper_error(body: bytes) -> None:
    try:
        parts = unwrap(body + SUFFIX)
    except WrapperError:
        return
    if not body:
        assert parts is None
        return
    assert parts is not None and parts.factory_calldata and parts.inner
    assert wrapper(parts.factory, parts.factory_calldata, parts.inner) == body + SUFFIX


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.binary(min_size=1, max_size=300))
def test_every_wellformed_wrapper_round_trips(calldata: bytes, inner: bytes) -> None:
    assert unwrap(wrapper(FACTORY, calldata, inner)) == Wrapped(FACTORY, calldata, inner)


def test_aggregate3_codec() -> None:
    calls = [(FACTORY, True, b"\xaa"), ("0x036CbD53842c5426634e7929541eC2318f3dCF7e", False, b"\xbb\xcc")]
    data = erc6492.aggregate3_calldata(calls)
    assert data[:4] == erc6492.AGGREGATE3_SELECTOR
    answer = encode(["(bool,bytes)[]"], [[(True, b""), (False, b"\x08\xc3\x79\xa0")]])
    assert erc6492.decode_aggregate3(answer) == [(True, b""), (False, b"\x08\xc3\x79\xa0")]
    with pytest.raises(ValueError, match="not an aggregate3 answer"):
        erc6492.decode_aggregate3(b"")


@SETTINGS
@given(st.binary(max_size=400))
def test_any_answer_decodes_or_raises_value_error(answer: bytes) -> None:
    try:
        results = erc6492.decode_aggregate3(answer)
    except ValueError:
        return
    assert all(isinstance(ok, bool) and isinstance(data, bytes) for ok, data in results)
