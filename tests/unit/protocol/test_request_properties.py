"""Property tests for the request decoder: any bytes give a VerifyRequest or a BodyError, nothing else.

Bodies are drawn as raw bytes, as any JSON, and as near-misses of real v1/v2 bodies (one part swapped
for any JSON value), so the decoder's every branch sees hostile input.
"""

import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.properties import SETTINGS
from x402fac.protocol import (
    BodyError,
    SettleResponse,
    VerifyRequest,
    decode_request,
    settle_response_for_version,
    to_caip2,
    to_legacy,
)
from x402fac.protocol.networks import LEGACY_TO_CAIP2

AMOUNT = re.compile(r"[0-9]{1,78}")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=10), json_values, max_size=4)
networks = st.sampled_from(sorted({*LEGACY_TO_CAIP2, *LEGACY_TO_CAIP2.values(), "nano:devnet"})) | st.text(
    min_size=1, max_size=30
)
amounts = st.integers(min_value=0, max_value=2**256 - 1).map(str) | st.text(max_size=80)
whole_numbers = st.integers(min_value=0, max_value=10**6) | st.integers(0, 10**6).map(float)


def requirements_v2() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "scheme": st.just("exact"),
            "network": networks,
            "amount": amounts,
            "payTo": st.text(min_size=1, max_size=64),
        },
        optional={
            "asset": st.text(max_size=44),
            "maxTimeoutSeconds": whole_numbers,
            "extra": objects | st.none(),
        },
    )


def requirements_v1() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "scheme": st.just("exact"),
            "network": networks,
            "maxAmountRequired": amounts,
            "payTo": st.text(min_size=1, max_size=64),
        },
        optional={
            "resource": st.text(max_size=20),
            "maxTimeoutSeconds": whole_numbers,
            "extra": objects | st.none(),
        },
    )


@st.composite
def v2_bodies(draw: st.DrawFn) -> dict[str, Any]:
    requirements = draw(requirements_v2())
    body = {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": draw(requirements_v2()), "payload": draw(objects)},
        "paymentRequirements": requirements,
    }
    if draw(st.booleans()):  # the seed's form: the version only in the payload
        del body["x402Version"]
    return body


@st.composite
def v1_bodies(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "x402Version": 1,
        "paymentPayload": {
            "x402Version": 1,
            "scheme": "exact",
            "network": draw(networks),
            "payload": draw(objects),
        },
        "paymentRequirements": draw(requirements_v1()),
    }


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def near_misses(draw: st.DrawFn) -> dict[str, Any]:
    """A real-looking body with one part (or its absence) swapped for anything."""
    body = draw(v2_bodies() | v1_bodies())
    path = draw(st.sampled_from(_paths(body)[1:]))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


def decoded_or_refused(body: bytes) -> VerifyRequest | None:
    try:
        request = decode_request(body)
    except BodyError:
        return None
    assert isinstance(request, VerifyRequest)
    assert request.x402_version in (1, 2)
    for requirements in (request.payment_requirements, request.payment_payload.accepted):
        assert AMOUNT.fullmatch(requirements.amount)
        assert type(requirements.max_timeout_seconds) is int and requirements.max_timeout_seconds >= 0
        assert requirements.scheme and requirements.network and requirements.pay_to
    assert type(request.payment_payload.x402_version) is int
    return request


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused(body: bytes) -> None:
    decoded_or_refused(body)


@SETTINGS
@given(json_values)
def test_any_json_decodes_or_is_refused(value: Any) -> None:
    decoded_or_refused(json.dumps(value).encode())


@SETTINGS
@given(near_misses())
def test_near_misses_decode_or_are_refused(body: dict[str, Any]) -> None:
    decoded_or_refused(json.dumps(body).encode())


@SETTINGS
@given(v2_bodies())
def test_v2_bodies_decode_as_sent(body: dict[str, Any]) -> None:
    request = decoded_or_refused(json.dumps(body).encode())
    valid = all(
        AMOUNT.fullmatch(r["amount"])
        for r in (body["paymentRequirements"], body["paymentPayload"]["accepted"])
    )
    assert (request is not None) == valid
    if request is not None:
        assert request.x402_version == 2
        assert request.payment_requirements.network == body["paymentRequirements"]["network"]
        assert request.payment_requirements.amount == body["paymentRequirements"]["amount"]
        # what the gateway forwards to a worker decodes to the same request
        assert msgspec.json.decode(msgspec.json.encode(request), type=VerifyRequest) == request


@SETTINGS
@given(v1_bodies())
def test_v1_bodies_convert_to_v2(body: dict[str, Any]) -> None:
    request = decoded_or_refused(json.dumps(body).encode())
    requirements = body["paymentRequirements"]
    assert (request is not None) == bool(AMOUNT.fullmatch(requirements["maxAmountRequired"]))
    if request is None:
        return
    assert request.x402_version == 1
    assert request.payment_requirements.amount == requirements["maxAmountRequired"]
    assert request.payment_requirements.network == to_caip2(requirements["network"])
    assert request.payment_payload.accepted.network == to_caip2(body["paymentPayload"]["network"])
    assert request.payment_requirements.max_timeout_seconds == int(requirements.get("maxTimeoutSeconds", 60))
    answer = SettleResponse(success=True, transaction="t", network=request.payment_requirements.network)
    assert settle_response_for_version(answer, 1).network == to_legacy(request.payment_requirements.network)


# ---- regressions found by these properties and by schemathesis -------------------------------------


def _body(**requirement_changes: Any) -> dict[str, Any]:
    requirements = {
        "scheme": "exact",
        "network": "nano:devnet",
        "amount": "1",
        "payTo": "x",
        **requirement_changes,
    }
    return {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": dict(requirements), "payload": {}},
        "paymentRequirements": requirements,
    }


def test_an_amount_with_a_trailing_newline_is_refused() -> None:
    # Python's `$` matched before a final newline: "12\n" passed as an amount.
    with pytest.raises(BodyError, match="amount"):
        decode_request(json.dumps(_body(amount="12\n")).encode())


@pytest.mark.parametrize("seconds", [60.0, 0.0, 1e3])
def test_whole_numbers_written_as_floats_are_integers(seconds: float) -> None:
    # JSON Schema (and JSON) read 60.0 as the integer 60; the decoder refused it with a 400.
    request = decode_request(json.dumps(_body(maxTimeoutSeconds=seconds)).encode())
    assert request.payment_requirements.max_timeout_seconds == int(seconds)
    assert type(request.payment_requirements.max_timeout_seconds) is int


@pytest.mark.parametrize("seconds", [60.5, -1, -1.0, "60", True])
def test_other_timeouts_are_refused(seconds: Any) -> None:
    with pytest.raises(BodyError):
        decode_request(json.dumps(_body(maxTimeoutSeconds=seconds)).encode())


def test_a_zero_version_is_not_taken_for_an_absent_one() -> None:
    # `x402Version: 0` fell back to the payload's version as if the field were absent.
    body = _body()
    body["x402Version"] = 0
    with pytest.raises(BodyError, match="x402Version"):
        decode_request(json.dumps(body).encode())
