"""Decoding verify/settle bodies of either version, and the v1 -> v2 conversion the gateway applies."""

import msgspec

from .networks import to_caip2, to_legacy
from .types import (
    PaymentPayload,
    PaymentRequirements,
    PaymentRequirementsV1,
    ResourceInfo,
    SettleResponse,
    VerifyRequest,
    VerifyRequestV1,
)


class _Envelope(msgspec.Struct, rename="camel"):
    """Just enough of a body to tell its version."""

    payment_payload: dict
    payment_requirements: dict
    x402_version: int | None = None


class BodyError(ValueError):
    """The body is not a verify/settle request; the message says why (shown in the 400 answer)."""


_v2_decoder = msgspec.json.Decoder(VerifyRequest)
_v1_decoder = msgspec.json.Decoder(VerifyRequestV1)
_envelope_decoder = msgspec.json.Decoder(_Envelope)


def requirements_v1_to_v2(req: PaymentRequirementsV1) -> PaymentRequirements:
    return PaymentRequirements(
        scheme=req.scheme,
        network=to_caip2(req.network),
        amount=req.max_amount_required,
        pay_to=req.pay_to,
        asset=req.asset,
        max_timeout_seconds=req.max_timeout_seconds,
        extra=req.extra,
    )


def v1_to_v2(request: VerifyRequestV1) -> VerifyRequest:
    requirements = requirements_v1_to_v2(request.payment_requirements)
    v1_payload = request.payment_payload
    # A v1 payload names only scheme and network; it was made for the requirements it is sent with.
    accepted = msgspec.structs.replace(
        requirements, scheme=v1_payload.scheme, network=to_caip2(v1_payload.network)
    )
    resource_v1 = request.payment_requirements
    resource = ResourceInfo(
        url=resource_v1.resource,
        description=resource_v1.description or None,
        mime_type=resource_v1.mime_type or None,
    )
    payload = PaymentPayload(x402_version=1, accepted=accepted, payload=v1_payload.payload, resource=resource)
    return VerifyRequest(x402_version=1, payment_payload=payload, payment_requirements=requirements)


def decode_request(body: bytes) -> VerifyRequest:
    """A v2 `VerifyRequest` from a v1 or v2 body; raises BodyError for anything else."""
    try:
        envelope = _envelope_decoder.decode(body)
        version = envelope.x402_version
        if version is None:  # OpenX402's documented bodies name it only in the payload
            version = envelope.payment_payload.get("x402Version")
        if version == 1:
            return v1_to_v2(_v1_decoder.decode(body))
        if version == 2:
            request = _v2_decoder.decode(body)
            return msgspec.structs.replace(request, x402_version=2)
    except msgspec.ValidationError as exc:
        raise BodyError(f"invalid payment request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BodyError(f"malformed JSON: {exc}") from None
    raise BodyError(f"unsupported x402Version: {version!r} (expected 1 or 2)")


def settle_response_for_version(response: SettleResponse, version: int) -> SettleResponse:
    """v1 clients expect legacy network names back."""
    if version == 1 and response.network:
        return msgspec.structs.replace(response, network=to_legacy(response.network))
    return response
