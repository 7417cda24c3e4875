"""identify(): what the payload alone decides, on the mainnet vector (real send-level work)."""

import copy

import msgspec
import pytest

from x402fac.nano import encode_address, public_key
from x402fac.protocol import Reason, VerifyRequest
from x402fac.worker import Invalid, supported_of
from x402fac.worker_nano.config import NanoNetworkConfig
from x402fac.worker_nano.exact import ExactNanoScheme
from x402fac.worker_nano.verify import check_amount


@pytest.fixture
def scheme():
    return ExactNanoScheme([NanoNetworkConfig("nano:mainnet", ("http://127.0.0.1:9",))])


def request_for(genvec, block=None, **requirement_changes) -> VerifyRequest:
    pay_to = encode_address(public_key(bytes.fromhex(genvec["payto_secret_key"])))
    requirements = {
        "scheme": "exact",
        "network": "nano:mainnet",
        "asset": "XNO",
        "amount": genvec["amount"],
        "payTo": pay_to,
        "maxTimeoutSeconds": 60,
        "extra": {"work": "required", "workThreshold": "fffffff800000000"},
        **requirement_changes,
    }
    body = {
        "x402Version": 2,
        "paymentPayload": {
            "x402Version": 2,
            "accepted": requirements,
            "payload": {"block": block if block is not None else copy.deepcopy(genvec["block"])},
        },
        "paymentRequirements": requirements,
    }
    return msgspec.convert(body, VerifyRequest)


async def invalid(scheme, request) -> Invalid:
    with pytest.raises(Invalid) as caught:
        await scheme.identify(request)
    return caught.value


async def test_valid_block_identity(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    identity = await scheme.identify(request_for(genvec))
    assert identity.payment_id == genvec["hash"]
    assert identity.payer == genvec["block"]["account"]
    assert identity.amount == genvec["amount"]


def test_supported_kind(scheme):
    kinds = supported_of([scheme]).kinds
    # nano:mainnet is also listed for x402 v1 under its legacy name, like every network that has one.
    assert [(k.x402_version, k.scheme, k.network, k.extra) for k in kinds] == [
        (
            2,
            "exact",
            "nano:mainnet",
            {"asset": "XNO", "work": "required", "workThreshold": "fffffff800000000"},
        ),
        (
            1,
            "exact",
            "nano",
            {"asset": "XNO", "work": "required", "workThreshold": "fffffff800000000"},
        ),
    ]


@pytest.mark.parametrize(
    "payload",
    [{}, {"blocks": {}}, {"block": "not an object"}, {"block": {"type": "state"}}],
)
async def test_malformed_payload_is_invalid_block(scheme, nano_vectors, payload):
    request = request_for(nano_vectors["genvec"])
    request.payment_payload.payload = payload
    assert (await invalid(scheme, request)).reason == Reason.INVALID_BLOCK


async def test_malformed_hex_names_the_field(scheme, nano_vectors):
    block = {**nano_vectors["genvec"]["block"], "previous": "XYZ"}
    error = await invalid(scheme, request_for(nano_vectors["genvec"], block))
    assert error.reason == Reason.INVALID_BLOCK
    assert "previous" in error.message


async def test_field_tampered_after_signing(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    block = {**genvec["block"], "balance": str(int(genvec["block"]["balance"]) + 1)}
    error = await invalid(scheme, request_for(genvec, block))
    assert error.reason == Reason.INVALID_SIGNATURE
    assert error.payer == genvec["block"]["account"]


async def test_non_canonical_s(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    signature = bytes.fromhex(genvec["block"]["signature"])
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    block = {**genvec["block"], "signature": (signature[:32] + s.to_bytes(32, "little")).hex().upper()}
    assert (await invalid(scheme, request_for(genvec, block))).reason == Reason.INVALID_SIGNATURE


async def test_link_as_account_cannot_redirect(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    # The block pays its signed link; claiming another payTo through link_as_account does not help.
    someone_else = encode_address(b"\x05" * 32)
    request = request_for(genvec, payTo=someone_else)
    request.payment_payload.payload["block"]["link_as_account"] = someone_else
    error = await invalid(scheme, request)
    assert error.reason == Reason.RECIPIENT_MISMATCH
    assert genvec["block"]["link_as_account"] in error.message


async def test_bad_pay_to(scheme, nano_vectors):
    assert (
        await invalid(scheme, request_for(nano_vectors["genvec"], payTo="nano_nope"))
    ).reason == Reason.RECIPIENT_MISMATCH


async def test_low_work(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    block = {**genvec["block"], "work": "0000000000000001"}  # work is not signed
    error = await invalid(scheme, request_for(genvec, block))
    assert error.reason == Reason.INVALID_WORK
    assert "fffffff800000000" in error.message


async def test_other_asset(scheme, nano_vectors):
    assert (
        await invalid(scheme, request_for(nano_vectors["genvec"], asset="USDC"))
    ).reason == Reason.UNSUPPORTED_ASSET


def test_amount_messages():
    from x402fac.nano import StateBlock

    block = StateBlock(bytes(32), bytes(32), bytes(32), 90, bytes(32))
    check_amount(100, block, 10, "p")
    for price, word in ((11, "underpaid by 1"), (9, "overpaid by 1")):
        with pytest.raises(Invalid) as caught:
            check_amount(100, block, price, "p")
        assert caught.value.reason == Reason.AMOUNT_MISMATCH
        assert word in caught.value.message
    with pytest.raises(Invalid, match="sends nothing"):
        check_amount(90, block, 10, "p")


async def test_signed_block_alias_is_answered_the_same(scheme, nano_vectors):
    genvec = nano_vectors["genvec"]
    by_block = request_for(genvec)
    by_alias = msgspec.structs.replace(
        by_block,
        payment_payload=msgspec.structs.replace(
            by_block.payment_payload, payload={"signedBlock": copy.deepcopy(genvec["block"])}
        ),
    )
    both = msgspec.structs.replace(
        by_block,
        payment_payload=msgspec.structs.replace(
            by_block.payment_payload,
            payload={"block": copy.deepcopy(genvec["block"]), "signedBlock": copy.deepcopy(genvec["block"])},
        ),
    )
    first, alias, same = [await scheme.identify(r) for r in (by_block, by_alias, both)]
    assert (alias.payment_id, alias.payer, alias.amount) == (first.payment_id, first.payer, first.amount)
    assert same.payment_id == first.payment_id
    other = copy.deepcopy(genvec["block"])
    other["balance"] = str(int(other["balance"]) + 1)
    differing = msgspec.structs.replace(
        by_block,
        payment_payload=msgspec.structs.replace(
            by_block.payment_payload, payload={"block": copy.deepcopy(genvec["block"]), "signedBlock": other}
        ),
    )
    assert (await invalid(scheme, differing)).reason == Reason.INVALID_BLOCK
    empty = msgspec.structs.replace(
        by_block, payment_payload=msgspec.structs.replace(by_block.payment_payload, payload={"blocks": {}})
    )
    assert (await invalid(scheme, empty)).reason == Reason.INVALID_BLOCK
