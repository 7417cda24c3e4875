"""Wire types against real examples: the OpenX402 seed's bodies, the SDK's shapes, header codecs."""

import base64
import json

import msgspec
import pytest

from x402fac.protocol import (
    BodyError,
    PaymentPayload,
    PaymentRequired,
    Reason,
    SettleResponse,
    SupportedResponse,
    VerifyResponse,
    decode_header,
    decode_request,
    encode_header,
    family_of,
    to_caip2,
    to_legacy,
)
from x402fac.protocol.headers import HeaderError

SEED_VERIFY_BODY = {
    "paymentPayload": {
        "x402Version": 2,
        "resource": {
            "url": "https://api.example.com/resource",
            "description": "API access",
            "mimeType": "application/json",
        },
        "accepted": {
            "scheme": "exact",
            "network": "eip155:8453",
            "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "amount": "100000",
            "payTo": "0xRecipient",
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USD Coin", "version": "2"},
        },
        "payload": {
            "signature": "0x...",
            "authorization": {
                "from": "0xPayer",
                "to": "0xRecipient",
                "value": "100000",
                "validAfter": "0",
                "validBefore": "1700000000",
                "nonce": "0x...",
            },
        },
    },
    "paymentRequirements": {
        "scheme": "exact",
        "network": "eip155:8453",
        "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "amount": "100000",
        "payTo": "0xRecipient",
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
    },
}


def test_seed_body_without_top_level_version_decodes_as_v2():
    request = decode_request(json.dumps(SEED_VERIFY_BODY).encode())
    assert request.x402_version == 2
    assert request.payment_requirements.pay_to == "0xRecipient"
    assert request.payment_requirements.amount == "100000"
    assert request.payment_payload.payload["authorization"]["validBefore"] == "1700000000"
    # re-encoding gives the same JSON (camelCase, nothing invented)
    again = json.loads(msgspec.json.encode(request.payment_payload))
    assert again == SEED_VERIFY_BODY["paymentPayload"]


def test_unknown_fields_tolerated():
    body = json.loads(json.dumps(SEED_VERIFY_BODY))
    body["paymentRequirements"]["somethingNew"] = {"a": 1}
    body["extensions"] = {}
    assert decode_request(json.dumps(body).encode()).payment_requirements.network == "eip155:8453"


@pytest.mark.parametrize("amount", ["1.5", "-1", "1e6", "", "0x10", 100])
def test_amounts_are_integer_strings(amount):
    body = json.loads(json.dumps(SEED_VERIFY_BODY))
    body["paymentRequirements"]["amount"] = amount
    with pytest.raises(BodyError):
        decode_request(json.dumps(body).encode())


def test_v1_body_converted_to_v2():
    v1 = {
        "x402Version": 1,
        "paymentPayload": {
            "x402Version": 1,
            "scheme": "exact",
            "network": "base-sepolia",
            "payload": {"signature": "0x1"},
        },
        "paymentRequirements": {
            "scheme": "exact",
            "network": "base-sepolia",
            "maxAmountRequired": "10000",
            "resource": "https://example.com/weather",
            "description": "Weather",
            "mimeType": "application/json",
            "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "maxTimeoutSeconds": 60,
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "extra": {"name": "USDC", "version": "2"},
        },
    }
    request = decode_request(json.dumps(v1).encode())
    assert request.x402_version == 1
    assert request.payment_requirements.network == "eip155:84532"
    assert request.payment_requirements.amount == "10000"
    assert request.payment_payload.accepted == request.payment_requirements
    assert request.payment_payload.payload == {"signature": "0x1"}
    assert request.payment_payload.resource.url == "https://example.com/weather"


def test_settle_response_always_has_transaction_and_network():
    encoded = json.loads(
        msgspec.json.encode(SettleResponse(success=False, transaction="", network="", error_reason="x"))
    )
    assert encoded == {"success": False, "transaction": "", "network": "", "errorReason": "x"}
    assert json.loads(msgspec.json.encode(VerifyResponse(is_valid=True, payer="p"))) == {
        "isValid": True,
        "payer": "p",
    }


def test_seed_supported_response_round_trips():
    seed = {
        "kinds": [
            {
                "x402Version": 2,
                "scheme": "exact",
                "network": "eip155:8453",
                "extra": {
                    "name": "USD Coin",
                    "version": "2",
                    "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                },
            },
            {
                "x402Version": 2,
                "scheme": "exact",
                "network": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
                "extra": {
                    "name": "USDC",
                    "asset": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
                    "feePayer": "5xvht4fYDs99yprfm4UeuHSLxMBRpotfBtUCQqM3oDNG",
                },
            },
        ],
        "extensions": ["discovery"],
        "signers": {"eip155:*": ["0x97316FA4730BC7d3B295234F8e4D04a0a4C093e8"]},
    }
    decoded = msgspec.json.decode(json.dumps(seed), type=SupportedResponse)
    assert json.loads(msgspec.json.encode(decoded)) == seed


def test_headers_round_trip_and_are_base64_json():
    required = PaymentRequired(
        x402_version=2,
        accepts=[
            msgspec.convert(
                SEED_VERIFY_BODY["paymentRequirements"],
                type=PaymentRequired.__annotations__["accepts"].__args__[0],
            )
        ],
        error="PAYMENT-SIGNATURE header is required",
    )
    header = encode_header(required)
    assert json.loads(base64.b64decode(header))["accepts"][0]["payTo"] == "0xRecipient"
    assert decode_header(header, PaymentRequired) == required
    payload_header = base64.b64encode(json.dumps(SEED_VERIFY_BODY["paymentPayload"]).encode()).decode()
    assert decode_header(payload_header, PaymentPayload).accepted.amount == "100000"
    with pytest.raises(HeaderError):
        decode_header("not base64!!", PaymentPayload)


def test_networks_map_both_ways():
    assert to_caip2("base") == "eip155:8453" and to_legacy("eip155:8453") == "base"
    assert to_caip2("solana-devnet") == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    assert to_legacy("eip155:999") == "eip155:999"
    assert family_of("base-sepolia") == "evm"
    assert family_of("nano:devnet") == "nano"
    assert family_of("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1") == "solana"
    assert family_of("cosmos:hub") is None and family_of("nonsense") is None


def test_seed_reason_codes_present():
    seed = [
        "unsupported_scheme",
        "unsupported_network",
        "amount_too_low",
        "recipient_mismatch",
        "expired",
        "invalid_signature",
        "nonce_already_used",
        "settlement_failed",
        "rate_limited",
        "insufficient_balance",
    ]
    assert all(Reason(code) for code in seed)
