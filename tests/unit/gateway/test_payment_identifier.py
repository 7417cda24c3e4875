"""The payment-identifier extension's parsing and digest (pure: no stack)."""

import copy

import msgspec
import pytest

from x402fac.gateway.payment_ids import InvalidIdentifier, payment_digest, payment_identifier
from x402fac.protocol import decode_request


def payment(payment_id: str) -> dict:
    requirements = {"scheme": "exact", "network": "eip155:1", "asset": "T", "amount": "1000", "payTo": "bob"}
    return {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": dict(requirements), "payload": {"id": payment_id}},
        "paymentRequirements": requirements,
    }


def with_identifier(body: dict, identifier) -> dict:
    body = copy.deepcopy(body)
    body["paymentPayload"]["extensions"] = {
        "payment-identifier": {
            "info": {"required": False, "id": identifier},
            "schema": {"type": "object", "properties": {"id": {"type": "string", "minLength": 16}}},
        }
    }
    return body


def request(body: dict):
    return decode_request(msgspec.json.encode(body))


def test_ids_of_16_to_128_safe_characters_are_read():
    assert payment_identifier(request(with_identifier(payment("a"), "pay_" + "a" * 12))) == "pay_" + "a" * 12
    assert (
        payment_identifier(request(with_identifier(payment("a"), "A-z_9" * 25 + "abc")))
        == "A-z_9" * 25 + "abc"
    )
    assert payment_identifier(request(payment("a"))) is None
    echoed = with_identifier(payment("a"), None)  # the server's declaration echoed without an id
    assert payment_identifier(request(echoed)) is None


@pytest.mark.parametrize(
    "bad",
    [
        "short",
        "x" * 129,
        "pay_with space_0001",
        "pay_ünïcödé_00001",
        "pay_0123456789abcdef\n",
        12345678901234567,
    ],
)
def test_malformed_ids_are_refused(bad):
    with pytest.raises(InvalidIdentifier):
        payment_identifier(request(with_identifier(payment("a"), bad)))


def test_the_digest_binds_the_payment_not_the_key_order():
    body = with_identifier(payment("a"), "pay_0123456789abcdef")
    reordered = dict(reversed(list(body.items())))
    reordered["paymentPayload"] = dict(reversed(list(body["paymentPayload"].items())))
    other = copy.deepcopy(body)
    other["paymentRequirements"]["amount"] = "1001"
    assert payment_digest(request(body)) == payment_digest(request(reordered))
    assert payment_digest(request(body)) != payment_digest(request(other))
