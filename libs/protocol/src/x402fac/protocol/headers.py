"""Codecs for the x402 HTTP headers: base64 of UTF-8 JSON.

v2: `PAYMENT-REQUIRED` (PaymentRequired), `PAYMENT-SIGNATURE` (PaymentPayload),
`PAYMENT-RESPONSE` (SettleResponse). v1: `X-PAYMENT` (PaymentPayloadV1), `X-PAYMENT-RESPONSE`.
"""

import base64
import binascii
from typing import TypeVar

import msgspec

T = TypeVar("T")

PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
X_PAYMENT = "X-PAYMENT"
X_PAYMENT_RESPONSE = "X-PAYMENT-RESPONSE"


class HeaderError(ValueError):
    pass


def encode_header(value: msgspec.Struct) -> str:
    return base64.b64encode(msgspec.json.encode(value)).decode("ascii")


def decode_header(value: str | bytes, type_: type[T]) -> T:
    try:
        raw = base64.b64decode(value, validate=True)
        return msgspec.json.decode(raw, type=type_)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise HeaderError(f"not a base64 JSON {type_.__name__}: {exc}") from None
