"""Property tests for the EIP-3009 decoders: payloads and signatures.

`parse_payload` gives an authorization or a PayloadError for any payload; `recover_signer` gives the
signer's checksummed address or None for any bytes, and exactly the signer for a real signature.
"""

import os
import re
from typing import Any

import coincurve
import pytest
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.properties import SETTINGS, json_scalars, json_values
from x402fac.worker_evm import eip3009
from x402fac.worker_evm.eip3009 import PayloadError, parse_payload, recover_signer

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FIELDS = ["from", "to", "value", "validAfter", "validBefore", "nonce"]

scalars = json_scalars()
values = json_values(scalars)
hex_text = st.text(alphabet="0123456789abcdefABCDEFxX \n", max_size=140)
near_values = st.one_of(
    values,
    hex_text,
    hex_text.map(lambda s: "0x" + s),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
    st.integers(min_value=-1, max_value=2**257),
    st.integers(min_value=0, max_value=2**257).map(str),
    st.sampled_from(["\n", " ", "\t"]).map(lambda w: "0x" + "ab" * 20 + w),
)


def valid_payload() -> dict[str, Any]:
    return {
        "signature": "0x" + os.urandom(65).hex(),
        "authorization": {
            "from": "0x" + os.urandom(20).hex(),
            "to": "0x" + os.urandom(20).hex(),
            "value": "10000",
            "validAfter": "0",
            "validBefore": "2000000000",
            "nonce": "0x" + os.urandom(32).hex(),
        },
    }


def parsed_or_refused(payload: Any) -> tuple[eip3009.Authorization, bytes] | None:
    try:
        authorization, signature = parse_payload(payload)
    except PayloadError:
        return None
    for address in (authorization.from_address, authorization.to):
        assert ADDRESS.fullmatch(address) and eip3009.checksum_address(address) == address
    for number in (authorization.value, authorization.valid_after, authorization.valid_before):
        assert 0 <= number <= eip3009.UINT256_MAX
    assert len(authorization.nonce) == 32 and signature
    # what the worker derives from it next must not fail either
    eip3009.transfer_calldata(authorization, signature)
    digest = eip3009.authorization_digest(
        authorization, eip3009.domain_separator("USDC", "2", 84532, authorization.to)
    )
    recover_signer(digest, signature)
    return authorization, signature


@SETTINGS
@given(st.dictionaries(st.sampled_from(["authorization", "signature", "x"]), values, max_size=3))
def test_any_payload_parses_or_is_a_payload_error(payload: dict[str, Any]) -> None:
    parsed_or_refused(payload)


@SETTINGS
@given(st.sampled_from([*FIELDS, "signature"]), near_values, st.booleans())
def test_a_payload_with_one_field_swapped_or_removed(field: str, value: Any, remove: bool) -> None:
    payload = valid_payload()
    target = payload if field == "signature" else payload["authorization"]
    if remove:
        del target[field]
    else:
        target[field] = value
    parsed = parsed_or_refused(payload)
    if remove:
        assert parsed is None
    elif parsed is not None and field in ("from", "to"):
        assert isinstance(value, str) and ADDRESS.fullmatch(value)


@SETTINGS
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=70))
def test_any_signature_recovers_an_address_or_none(digest: bytes, signature: bytes) -> None:
    signer = recover_signer(digest, signature)
    assert signer is None or (ADDRESS.fullmatch(signer) and eip3009.checksum_address(signer) == signer)


@SETTINGS
@given(st.binary(min_size=32, max_size=32), st.integers(min_value=1, max_value=SECP256K1_N - 1))
def test_a_real_signature_recovers_its_signer_and_its_high_s_twin_nothing(digest: bytes, secret: int) -> None:
    key = coincurve.PrivateKey(secret.to_bytes(32, "big"))
    address = eip3009.checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:])
    raw = key.sign_recoverable(digest, hasher=None)  # r, s (low), recovery id
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    assert recover_signer(digest, r + s.to_bytes(32, "big") + bytes([v + 27])) == address
    assert recover_signer(digest, raw) == address
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([(v ^ 1) + 27])
    assert recover_signer(digest, high_s) is None


# ---- regressions found by these properties ----------------------------------------------------------


@pytest.mark.parametrize("field", ["from", "to"])
def test_an_address_with_a_trailing_newline_is_a_payload_error(field: str) -> None:
    # `$` matched before the newline and checksum_address raised a bare ValueError (a worker error, a 500).
    payload = valid_payload()
    payload["authorization"][field] += "\n"
    with pytest.raises(PayloadError, match=field):
        parse_payload(payload)


@pytest.mark.parametrize("field", ["value", "validAfter", "validBefore", "nonce"])
def test_numbers_and_nonces_with_a_trailing_newline_are_refused(field: str) -> None:
    # They were accepted (int() and bytes.fromhex() skip the whitespace).
    payload = valid_payload()
    payload["authorization"][field] += "\n"
    with pytest.raises(PayloadError, match=field):
        parse_payload(payload)


def test_a_signature_with_a_trailing_newline_is_refused() -> None:
    payload = valid_payload()
    payload["signature"] += "\n"
    with pytest.raises(PayloadError, match="signature"):
        parse_payload(payload)
