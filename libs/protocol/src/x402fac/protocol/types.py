"""x402 wire types (v2 and v1) as msgspec Structs: camelCase on the wire, unknown fields tolerated.

Amounts are decimal integer strings in the asset's atomic units; they are never parsed as floats.
"""

from typing import Annotated, Any

import msgspec
from msgspec import Meta

# uint256 fits in 78 decimal digits; anything else is not an amount.
AtomicAmount = Annotated[str, Meta(pattern=r"^[0-9]{1,78}$")]
NonEmpty = Annotated[str, Meta(min_length=1, max_length=256)]


class Wire(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every wire struct."""


class ResourceInfo(Wire):
    url: str = ""
    description: str | None = None
    mime_type: str | None = None


class PaymentRequirements(Wire):
    """What a resource server asks for (v2)."""

    scheme: NonEmpty
    network: NonEmpty
    amount: AtomicAmount
    pay_to: NonEmpty
    asset: str = ""
    max_timeout_seconds: Annotated[int, Meta(ge=0)] = 60
    extra: dict[str, Any] | None = None


class PaymentRequired(Wire):
    """Body of a 402 answer and of the `PAYMENT-REQUIRED` header (v2)."""

    x402_version: int
    accepts: list[PaymentRequirements]
    resource: ResourceInfo | None = None
    error: str | None = None
    extensions: dict[str, Any] | None = None


class PaymentPayload(Wire):
    """A signed payment (v2): `accepted` names the requirements it was made for."""

    x402_version: int
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


class PaymentRequirementsV1(Wire):
    scheme: NonEmpty
    network: NonEmpty
    max_amount_required: AtomicAmount
    pay_to: NonEmpty
    asset: str = ""
    resource: str = ""
    description: str = ""
    mime_type: str = ""
    max_timeout_seconds: Annotated[int, Meta(ge=0)] = 60
    output_schema: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class PaymentPayloadV1(Wire):
    x402_version: int
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


class DiscoveryItem(Wire):
    resource: str
    accepts: list[PaymentRequirements]
    type: str = "http"
    x402_version: int = 2
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    last_updated: str = ""


class Pagination(Wire, omit_defaults=False):
    limit: int = 100
    offset: int = 0
    total: int = 0


class DiscoveryResponse(Wire, omit_defaults=False):
    items: list[DiscoveryItem]
    pagination: Pagination
    x402_version: int = 2
