"""x402 wire types (v2 and v1) as msgspec Structs: camelCase on the wire, unknown fields tolerated.

Amounts are decimal integer strings in the asset's atomic units; they are never parsed as floats.
"""

from typing import Annotated, Any

import msgspec
from msgspec import Meta

# uint256 fits in 78 decimal digits; anything else is not an amount. `(?!\n)`: Python's `$` also
# matches before a final newline, JSON Schema's does not; both dialects read the lookahead alike.
AtomicAmount = Annotated[str, Meta(pattern=r"^[0-9]{1,78}(?!\n)$")]
NonEmpty = Annotated[str, Meta(min_length=1, max_length=256)]
# JSON has one number type: 60 and 60.0 are the same integer (JSON Schema agrees), 60.5 is none.
# Decoded as either, made an int by `_whole` in __post_init__ (a fraction is a validation error).
WholeNumber = int | float
Seconds = Annotated[int, Meta(ge=0)] | Annotated[float, Meta(ge=0)]


def _whole(value: int | float, name: str) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"Expected an integer for `{name}`, got {value!r}")
        return int(value)
    return value


class Wire(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every wire struct."""


class Requirements(Wire):
    """What both versions' payment requirements start with; their `maxTimeoutSeconds` is whole."""

    scheme: NonEmpty
    network: NonEmpty

    def __post_init__(self) -> None:
        self.max_timeout_seconds = _whole(self.max_timeout_seconds, "maxTimeoutSeconds")  # type: ignore[attr-defined]


class Versioned(Wire):
    """What both versions' payment payloads start with: the protocol version, a whole number."""

    x402_version: WholeNumber

    def __post_init__(self) -> None:
        self.x402_version = _whole(self.x402_version, "x402Version")


class ResourceInfo(Wire):
    url: str = ""
    description: str | None = None
    mime_type: str | None = None


class PaymentRequirements(Requirements):
    """What a resource server asks for (v2)."""

    amount: AtomicAmount
    pay_to: NonEmpty
    asset: str = ""
    max_timeout_seconds: Seconds = 60
    extra: dict[str, Any] | None = None


class PaymentRequired(Wire):
    """Body of a 402 answer and of the `PAYMENT-REQUIRED` header (v2)."""

    x402_version: int
    accepts: list[PaymentRequirements]
    resource: ResourceInfo | None = None
    error: str | None = None
    extensions: dict[str, Any] | None = None


class PaymentPayload(Versioned):
    """A signed payment (v2): `accepted` names the requirements it was made for."""

    accepted: PaymentRequirements
    payload: dict[str, Any]
    resource: ResourceInfo | None = None
    extensions: dict[str, Any] | None = None


class VerifyRequest(Wire):
    """Body of `POST /verify` and `POST /settle` (v2), and what the gateway sends to workers."""

    payment_payload: PaymentPayload
    payment_requirements: PaymentRequirements
    x402_version: int = 2


SettleRequest = VerifyRequest


class VerifyResponse(Wire):
    is_valid: bool
    invalid_reason: str | None = None
    invalid_message: str | None = None
    payer: str | None = None


class SettleResponse(Wire):
    """`transaction` and `network` are always present ("" when there is nothing to name)."""

    success: bool
    transaction: str
    network: str
    error_reason: str | None = None
    error_message: str | None = None
    payer: str | None = None
    amount: str | None = None
    # Extension outcomes, e.g. {"bazaar": {"status": "listed"}} or {"payment-identifier": {...}}.
    extensions: dict[str, Any] | None = None


class SupportedKind(Wire):
    x402_version: int
    scheme: str
    network: str
    extra: dict[str, Any] | None = None


class SupportedResponse(Wire, omit_defaults=False):
    kinds: list[SupportedKind] = msgspec.field(default_factory=list)
    extensions: list[str] = msgspec.field(default_factory=list)
    signers: dict[str, list[str]] = msgspec.field(default_factory=dict)


# ---- v1 ---------------------------------------------------------------------------------------


class PaymentRequirementsV1(Requirements):
    max_amount_required: AtomicAmount
    pay_to: NonEmpty
    asset: str = ""
    resource: str = ""
    description: str = ""
    mime_type: str = ""
    max_timeout_seconds: Seconds = 60
    output_schema: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class PaymentPayloadV1(Versioned):
    scheme: NonEmpty
    network: NonEmpty
    payload: dict[str, Any]


class VerifyRequestV1(Wire):
    payment_payload: PaymentPayloadV1
    payment_requirements: PaymentRequirementsV1
    x402_version: int = 1


class PaymentRequiredV1(Wire):
    x402_version: int
    accepts: list[PaymentRequirementsV1]
    error: str | None = None


# ---- discovery --------------------------------------------------------------------------------


class DiscoveryItem(Wire, omit_defaults=False):
    """One catalog entry as `/discovery/resources` lists it (OpenX402 shape, plus the Bazaar's
    optional `description`, `mimeType` and `extensions`)."""

    resource: str
    accepts: list[PaymentRequirements]
    type: str = "http"
    x402_version: int = 2
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    last_updated: str = ""
    description: str | None = None
    mime_type: str | None = None
    extensions: dict[str, Any] | None = None


class Pagination(Wire, omit_defaults=False):
    limit: int = 100
    offset: int = 0
    total: int = 0


class DiscoveryResponse(Wire, omit_defaults=False):
    items: list[DiscoveryItem]
    pagination: Pagination
    x402_version: int = 2
