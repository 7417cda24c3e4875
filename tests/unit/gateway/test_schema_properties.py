"""The request bodies in the served OpenAPI document say exactly what the decoder accepts.

For any body — real v1/v2 bodies and near-misses of them — the body is valid against the route's
schema (JSON Schema 2020-12, as OpenAPI 3.1 reads it) if and only if `decode_request` accepts it.
That is what lets a schema-driven fuzzer hold the gateway to the contract: schema-valid bodies are
never a 400, schema-invalid ones always are.
"""

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.serialization import encode_json

from tests.fixtures.properties import SETTINGS
from tests.unit.protocol.test_request_properties import near_misses, v1_bodies, v2_bodies
from x402fac.gateway.app import create_app
from x402fac.gateway.config import GatewayConfig
from x402fac.protocol import BodyError, decode_request

# As served: through Litestar's JSON encoder (the generated response examples are Structs).
DOCUMENT = json.loads(encode_json(create_app(GatewayConfig()).openapi_schema.to_schema()))


def body_validator(path: str) -> Any:
    schema = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]})


BOTH = body_validator("/verify")
V1 = body_validator("/v1/verify")


def accepted(body: Any) -> bool:
    try:
        decode_request(json.dumps(body).encode())
    except BodyError:
        return False
    return True


def test_every_payment_route_documents_its_body_and_errors() -> None:
    for path in ["/verify", "/settle", "/v1/verify", "/v1/settle"]:
        for prefix in ["", "/facilitator"]:
            operation = DOCUMENT["paths"][prefix + path]["post"]
            assert operation["requestBody"]["required"] is True
            assert {"200", "400", "401", "404", "405", "413", "429", "500", "503"} <= set(
                operation["responses"]
            )
            for status in ("429", "503"):
                assert operation["responses"][status]["headers"]["Retry-After"]["required"] is True


@SETTINGS
@given(st.one_of(v2_bodies(), v1_bodies(), near_misses()))
def test_the_schema_allows_exactly_what_the_decoder_accepts(body: dict[str, Any]) -> None:
    assert BOTH.is_valid(body) == accepted(body)


@SETTINGS
@given(st.one_of(v1_bodies(), near_misses()))
def test_v1_bodies_valid_for_the_v1_routes_are_accepted(body: dict[str, Any]) -> None:
    if V1.is_valid(body):
        assert accepted(body) and decode_request(json.dumps(body).encode()).x402_version == 1


@pytest.mark.parametrize(
    "value",
    [{"x402Version": 0}, {"x402Version": None}, {"x402Version": 3}, {"x402Version": "2"}],
)
def test_versions_other_than_1_and_2_are_invalid_and_refused(value: dict[str, Any]) -> None:
    body = {
        "paymentPayload": {
            "x402Version": 2,
            "accepted": {"scheme": "exact", "network": "n", "amount": "1", "payTo": "p"},
            "payload": {},
        },
        "paymentRequirements": {"scheme": "exact", "network": "n", "amount": "1", "payTo": "p"},
        **value,
    }
    assert not BOTH.is_valid(body) and not accepted(body)
    del body["x402Version"]  # the version named only in the payload
    assert BOTH.is_valid(body) and accepted(body)
