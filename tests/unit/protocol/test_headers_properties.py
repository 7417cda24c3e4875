"""Property tests for the x402 header codecs (base64 of UTF-8 JSON).

Any header value decodes to the asked type or raises HeaderError, nothing else; whatever decodes
encodes back to a header that decodes to the same value.
"""

import base64
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.properties import SETTINGS
from tests.unit.protocol.test_request_properties import (
    json_values,
    near_misses,
    requirements_v1,
    requirements_v2,
    v1_bodies,
    v2_bodies,
)
from x402fac.protocol import (
    HeaderError,
    PaymentPayload,
    PaymentPayloadV1,
    PaymentRequired,
    PaymentRequiredV1,
    SettleResponse,
    decode_header,
    encode_header,
)

HEADER_TYPES = [PaymentRequired, PaymentPayload, SettleResponse, PaymentPayloadV1, PaymentRequiredV1]
header_types = st.sampled_from(HEADER_TYPES)


def decoded_or_refused(value: str | bytes, type_: type) -> Any:
    try:
        decoded = decode_header(value, type_)
    except HeaderError:
        return None
    assert isinstance(decoded, type_)
    assert decode_header(encode_header(decoded), type_) == decoded
    return decoded


def as_header(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@SETTINGS
@given(st.text(max_size=200) | st.binary(max_size=200), header_types)
def test_any_header_value_decodes_or_is_a_header_error(value: str | bytes, type_: type) -> None:
    decoded_or_refused(value, type_)


@SETTINGS
@given(st.binary(max_size=200), header_types)
def test_any_base64_of_any_bytes_decodes_or_is_a_header_error(raw: bytes, type_: type) -> None:
    decoded_or_refused(base64.b64encode(raw).decode(), type_)


@SETTINGS
@given(json_values, header_types)
def test_base64_of_any_json_decodes_or_is_a_header_error(value: Any, type_: type) -> None:
    decoded_or_refused(as_header(value), type_)


@st.composite
def header_objects(draw: st.DrawFn) -> tuple[Any, type]:
    """Real-looking header contents of every kind, some of them near-misses."""
    body = draw(v2_bodies() | v1_bodies() | near_misses())
    payload = body.get("paymentPayload")
    return draw(
        st.sampled_from(
            [
                (payload, PaymentPayload),
                (payload, PaymentPayloadV1),
                ({"x402Version": 2, "accepts": [draw(requirements_v2())], "error": "pay"}, PaymentRequired),
                ({"x402Version": 1, "accepts": [draw(requirements_v1())]}, PaymentRequiredV1),
                (
                    {"success": draw(st.booleans()), "transaction": "t", "network": "n", "extra": 1},
                    SettleResponse,
                ),
            ]
        )
    )


@SETTINGS
@given(header_objects())
def test_real_looking_headers_decode_or_are_a_header_error(header: tuple[Any, type]) -> None:
    value, type_ = header
    decoded = decoded_or_refused(as_header(value), type_)
    if decoded is not None and type_ is PaymentPayload:
        assert type(decoded.x402_version) is int and type(decoded.accepted.max_timeout_seconds) is int


@pytest.mark.parametrize("value", ["", "=", "YQ", "YWJj\n", "ä", "%%%"])
def test_malformed_base64_is_a_header_error(value: str) -> None:
    with pytest.raises(HeaderError):
        decode_header(value, PaymentPayload)


def test_a_whole_float_version_in_a_header_is_an_integer() -> None:
    payload = {
        "x402Version": 2.0,
        "accepted": {
            "scheme": "exact",
            "network": "n",
            "amount": "1",
            "payTo": "p",
            "maxTimeoutSeconds": 30.0,
        },
        "payload": {},
    }
    decoded = decode_header(as_header(payload), PaymentPayload)
    assert decoded.x402_version == 2 and decoded.accepted.max_timeout_seconds == 30
    assert msgspec.json.decode(base64.b64decode(encode_header(decoded)))["x402Version"] == 2
