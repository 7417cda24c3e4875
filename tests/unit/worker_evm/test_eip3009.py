"""EIP-3009 helpers against eth_account (the official client's signer) as the reference."""

from __future__ import annotations

import os

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from tests.fixtures.evm import TRANSFER_WITH_AUTHORIZATION_TYPES
from x402fac.worker_evm import eip3009

TOKEN = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def signed_payload(account, value: int = 10_000, name: str = "USDC", version: str = "2"):
    nonce = os.urandom(32)
    message = {
        "from": account.address,
        "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "value": value,
        "validAfter": 0,
        "validBefore": 2_000_000_000,
        "nonce": nonce,
    }
    domain = {"name": name, "version": version, "chainId": 84532, "verifyingContract": TOKEN}
    signable = encode_typed_data(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, message)
    signature = account.sign_message(signable).signature
    payload = {
        "signature": "0x" + bytes(signature).hex(),
        "authorization": {
            "from": account.address,
            "to": message["to"],
            "value": str(value),
            "validAfter": "0",
            "validBefore": "2000000000",
            "nonce": "0x" + nonce.hex(),
        },
    }
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    return payload, digest


def test_digest_matches_eth_account_and_recovers_the_payer() -> None:
    account = Account.create()
    payload, reference_digest = signed_payload(account)
    authorization, signature = eip3009.parse_payload(payload)
    digest = eip3009.authorization_digest(authorization, eip3009.domain_separator("USDC", "2", 84532, TOKEN))
    assert digest == reference_digest
    assert eip3009.recover_signer(digest, signature) == account.address
    other_domain = eip3009.domain_separator("USD Coin", "2", 84532, TOKEN)
    assert (
        eip3009.recover_signer(eip3009.authorization_digest(authorization, other_domain), signature)
        != account.address
    )


def test_high_s_and_malformed_signatures_are_refused() -> None:
    account = Account.create()
    payload, digest = signed_payload(account)
    _, signature = eip3009.parse_payload(payload)
    s = int.from_bytes(signature[32:64], "big")
    flipped_v = 27 + (1 - (signature[64] - 27))
    malleated = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([flipped_v])
    assert eip3009.recover_signer(digest, malleated) is None
    assert eip3009.recover_signer(digest, signature[:64]) is None
    assert eip3009.recover_signer(digest, signature[:64] + b"\x05") is None
    v_zero_one = signature[:64] + bytes([signature[64] - 27])
    assert eip3009.recover_signer(digest, v_zero_one) == account.address


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("authorization"), "payload.authorization is missing"),
        (lambda p: p.update(signature="zz"), "payload.signature"),
        (lambda p: p["authorization"].update(nonce="0x12"), "nonce"),
        (lambda p: p["authorization"].update(value="-1"), "value"),
        (lambda p: p["authorization"].update(value=str(2**256)), "value"),
        (lambda p: p["authorization"].update(to="0x1234"), "authorization.to"),
        (lambda p: p["authorization"].pop("validBefore"), "validBefore is missing"),
    ],
)
def test_malformed_payloads_name_the_field(change, message) -> None:
    payload, _ = signed_payload(Account.create())
    change(payload)
    with pytest.raises(eip3009.PayloadError, match=message):
        eip3009.parse_payload(payload)


def test_calldata_uses_the_vrs_overload_for_ecdsa_and_bytes_otherwise() -> None:
    payload, _ = signed_payload(Account.create(), value=77)
    authorization, signature = eip3009.parse_payload(payload)
    vrs = eip3009.transfer_calldata(authorization, signature)
    assert (
        vrs[:4]
        == keccak(
            b"transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
        )[:4]
    )
    decoded = decode(
        ["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32", "bytes32"],
        vrs[4:],
    )
    assert decoded[2] == 77 and decoded[6] in (27, 28) and decoded[7] == signature[:32]
    wallet_signature = signature + b"\x00" * 10
    as_bytes = eip3009.transfer_calldata(authorization, wallet_signature)
    assert (
        as_bytes[:4]
        == keccak(b"transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")[:4]
    )
    assert (
        decode(["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"], as_bytes[4:])[6]
        == wallet_signature
    )


def test_revert_decoding() -> None:
    error = keccak(b"Error(string)")[:4] + encode(["string"], ["FiatTokenV2: authorization is expired"])
    assert eip3009.decode_revert(error) == "FiatTokenV2: authorization is expired"
    assert eip3009.decode_revert(bytes.fromhex("deadbeef")) == "0xdeadbeef"
    assert eip3009.decode_revert(b"") == ""


def test_transfer_log_must_match_token_parties_and_value() -> None:
    payload, _ = signed_payload(Account.create(), value=500)
    authorization, _ = eip3009.parse_payload(payload)

    def log(token=TOKEN, sender=authorization.from_address, to=authorization.to, value=500):
        return {
            "address": token.lower(),
            "topics": [
                eip3009.TRANSFER_TOPIC,
                "0x" + "0" * 24 + sender[2:].lower(),
                "0x" + "0" * 24 + to[2:].lower(),
            ],
            "data": "0x" + value.to_bytes(32, "big").hex(),
        }

    assert eip3009.has_transfer_log([log()], TOKEN, authorization)
    assert not eip3009.has_transfer_log([log(value=499)], TOKEN, authorization)
    assert not eip3009.has_transfer_log([log(token=authorization.to)], TOKEN, authorization)
    assert not eip3009.has_transfer_log([log(to=authorization.from_address)], TOKEN, authorization)
    assert not eip3009.has_transfer_log([], TOKEN, authorization)


def test_checksum_matches_eth_utils() -> None:
    from eth_utils import to_checksum_address

    for _ in range(200):
        raw = os.urandom(20)
        assert eip3009.checksum_address(raw) == to_checksum_address(raw)
        assert eip3009.checksum_address("0x" + raw.hex().upper()) == to_checksum_address(raw)
