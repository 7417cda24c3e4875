"""The OpenAPI description of what the handlers accept and answer, for clients and schema-driven fuzzers.

The handlers read the raw body and decode it with msgspec (`x402fac.protocol.decode_request`), so the
request bodies are described here, from the same wire types, exactly as the decoder accepts them: a
body the schema allows is never a 400, and a body it forbids always is.
"""

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.enums import ParamType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
    SecurityScheme,
)

from x402fac.protocol import VerifyRequest, VerifyRequestV1
from x402fac.protocol.networks import LEGACY_TO_CAIP2

from .errors import ErrorBody

JSON = "application/json"
_REF = "#/components/schemas/{name}"
V2_BODY = "PaymentRequest"
V1_BODY = "PaymentRequestV1"

# Names a fuzzer should try besides random strings: every network the workers can serve somewhere.
KNOWN_NETWORKS = sorted({*LEGACY_TO_CAIP2, *LEGACY_TO_CAIP2.values(), "nano:devnet", "nano:beta"})


def _known_or_any(names: list[str], any_string: dict[str, Any]) -> dict[str, Any]:
    """The same set of strings as `any_string`, listing the well-known values first (docs and fuzzers)."""
    return {"anyOf": [{"enum": names}, any_string], "examples": names[:3]}


def _with_version(name: str, body: dict[str, Any], version: int) -> dict[str, Any]:
    """`x402Version` is `version`; when it is absent, `paymentPayload.x402Version` says which it is."""
    body = {**body, "title": name, "properties": {**body["properties"], "x402Version": {"const": version}}}
    body["anyOf"] = [
        {"required": ["x402Version"]},
        {"properties": {"paymentPayload": {"properties": {"x402Version": {"const": version}}}}},
    ]
    return body


def _body_components() -> dict[str, Any]:
    _, components = msgspec.json.schema_components([VerifyRequest, VerifyRequestV1], ref_template=_REF)
    for requirements in ("PaymentRequirements", "PaymentRequirementsV1"):
        properties = components[requirements]["properties"]
        properties["scheme"] = _known_or_any(["exact", "upto"], properties["scheme"])
        properties["network"] = _known_or_any(KNOWN_NETWORKS, properties["network"])
        # decoded as int or float, then held to a whole number: a JSON Schema integer
        properties["maxTimeoutSeconds"] = {"type": "integer", "minimum": 0, "default": 60}
    for payload in ("PaymentPayload", "PaymentPayloadV1"):
        components[payload]["properties"]["x402Version"] = {"type": "integer"}
    components["PaymentPayloadV1"]["properties"]["network"] = _known_or_any(
        KNOWN_NETWORKS, components["PaymentPayloadV1"]["properties"]["network"]
    )
    components[V2_BODY] = _with_version(V2_BODY, components.pop("VerifyRequest"), 2)
    components[V1_BODY] = _with_version(V1_BODY, components.pop("VerifyRequestV1"), 1)
    return components


def add_request_bodies(openapi: OpenAPI) -> None:
    """Add the request bodies' schemas beside the ones Litestar made from the handlers' types (it
    replaces `OpenAPIConfig.components.schemas` with its own, so they are added to the built document)."""
    openapi.components.schemas.update(_body_components())  # type: ignore[arg-type]  # JSON Schema dicts


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


_RETRY_AFTER = {
    "Retry-After": OpenAPIHeader(
        schema=Schema(type="integer"),  # type: ignore[arg-type]
        description="Seconds to wait before retrying",
        required=True,
    )
}


def operation_with_body(*versions: int) -> type[Operation]:
    """An Operation class for a verify/settle route: its JSON body (by `x402Version`) and Retry-After."""
    bodies = [_ref(V2_BODY if version == 2 else V1_BODY) for version in versions]
    schema = bodies[0] if len(bodies) == 1 else {"oneOf": bodies}

    @dataclass
    class PaymentOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={JSON: OpenAPIMediaType(schema=schema)},  # type: ignore[arg-type]
                description="`{x402Version, paymentPayload, paymentRequirements}`",
                required=True,
            )
            for status in ("429", "503"):
                response = (self.responses or {}).get(status)
                if response is not None and hasattr(response, "headers"):
                    response.headers = _RETRY_AFTER

    return PaymentOperation


# Who may call the dashboard's key routes and the admin API (the 401 of a missing or wrong credential).
SECURITY_SCHEMES = {
    "apiKey": SecurityScheme(type="apiKey", name="x-api-key", security_scheme_in="header"),
    "apiKeyBearer": SecurityScheme(type="http", scheme="bearer", description="an API key as the token"),
    "adminToken": SecurityScheme(type="apiKey", name="x-admin-token", security_scheme_in="header"),
    "adminBearer": SecurityScheme(
        type="http", scheme="bearer", description="X402FAC_ADMIN_TOKEN as the token"
    ),
}
API_KEY_SECURITY = [{"apiKey": []}, {"apiKeyBearer": []}]
ADMIN_SECURITY = [{"adminToken": []}, {"adminBearer": []}]


def add_security_schemes(openapi: OpenAPI) -> None:
    openapi.components.security_schemes = {**(openapi.components.security_schemes or {}), **SECURITY_SCHEMES}


def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> Parameter:
    return Parameter(
        name=name,
        param_in=ParamType.QUERY,
        required=required,
        schema=schema,  # type: ignore[arg-type]  # a JSON Schema dict
        description=description,
    )


def documented_operation(
    parameters: list[Parameter] | None = None, body: dict[str, Any] | None = None, description: str = ""
) -> type[Operation]:
    """An Operation class adding what a handler reads by hand: query parameters, a JSON body."""

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if parameters:
                self.parameters = [*(self.parameters or []), *parameters]
            if body is not None:
                self.request_body = RequestBody(
                    content={JSON: OpenAPIMediaType(schema=body)},  # type: ignore[arg-type]
                    description=description,
                    required=True,
                )

    return DocumentedOperation


def error_spec(description: str) -> ResponseSpec:
    """A documented answer in the one JSON error shape."""
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


ROUTE_ERRORS = {
    404: error_spec("`not_found`: no such route"),
    405: error_spec("`method_not_allowed`: the route does not take this method"),
    500: error_spec("`internal_error`: a bug (no traceback is ever sent)"),
}
UNAUTHORIZED = {401: error_spec("`unauthorized`: no valid credential (see the security schemes)")}
LEDGER_AWAY = {503: error_spec("`ledger_unavailable`: the ledger did not answer; see Retry-After")}
# What the dashboard, admin and whitelist routes answer besides their success.
PUBLIC = {**LEDGER_AWAY, **ROUTE_ERRORS}
WITH_KEY = {
    **UNAUTHORIZED,
    429: error_spec("`rate_limited`: the key's own limit, or too many invalid keys from this address"),
    **PUBLIC,
}
ADMIN = {**UNAUTHORIZED, **PUBLIC}
BAD_BODY = {400: error_spec("`invalid_request`: the body is not what the route takes")}
NOT_FOUND = {404: error_spec("`not_found`: no such key or address")}
USAGE_PARAMETERS = [
    query("granularity", {"enum": ["h", "d"]}, "hours or days"),
    query("periods", {"type": "integer"}, "how many, up to now (held to 1..400)"),
]
PAYMENT_ERRORS = {
    400: error_spec("`invalid_request`: malformed JSON, or a body that is not a verify/settle request"),
    401: error_spec(
        "`unauthorized`: the API key given (x-api-key or Bearer) is not valid, or keys are required"
    ),
    413: error_spec("`body_too_large`: body over the size limit (256 KiB)"),
    429: error_spec("`rate_limited`: per-IP limit; see Retry-After"),
    503: error_spec(
        "`worker_unavailable` / `worker_timeout`: no worker of the network's family is running / "
        "answering; see Retry-After"
    ),
    **ROUTE_ERRORS,
}


class HealthBody(msgspec.Struct, rename="camel"):
    """`GET /health` (also the body of its 503): worker families that answer, each family's replicas,
    and the replicas that verify only (they hold no settle key)."""

    status: str
    nats: str
    workers: list[str]
    replicas: dict[str, list[dict[str, Any]]]
    replicas_without_settle: list[str]


class IndexBody(msgspec.Struct, rename="camel"):
    """`GET /`: what this facilitator is and serves."""

    name: str
    version: str
    x402_version: int
    status: str
    endpoints: dict[str, str]
    networks: list[str]
    schemes: list[str]
    features: list[str]
