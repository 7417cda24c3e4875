"""EIP-3009 without a chain: the payload, its EIP-712 digest, signature recovery, calldata, reverts, logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import coincurve
from eth_abi import decode, encode

from .keccak import keccak

EIP712_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak(
    b"TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
    b"uint256 validBefore,bytes32 nonce)"
)
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
ERC1271_MAGIC_VALUE = bytes.fromhex("1626ba7e")
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
UINT256_MAX = 2**256 - 1

# Used with fullmatch: `$` alone also matches before a final newline.
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_HEX = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")
_UINT = re.compile(r"^[0-9]{1,78}$")


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def checksum_address(address: str | bytes) -> str:
    """EIP-55 mixed-case form of a 20-byte address (hex string or bytes)."""
    return _checksum(address.hex() if isinstance(address, bytes) else address[2:].lower())


@lru_cache(maxsize=65_536)  # payers, payees and tokens recur: a keccak per address per request saved
def _checksum(lower: str) -> str:
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest, strict=False))


# The static ABI types used here are one 32-byte word each; encoding them by hand is ~10x faster.
def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


SELECTORS = {
    "transferWithAuthorization_vrs": _selector(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
    ),
    "transferWithAuthorization_bytes": _selector(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
    ),
    "isValidSignature": _selector("isValidSignature(bytes32,bytes)"),
    "authorizationState": _selector("authorizationState(address,bytes32)"),
    "balanceOf": _selector("balanceOf(address)"),
    "name": _selector("name()"),
    "version": _selector("version()"),
    "DOMAIN_SEPARATOR": _selector("DOMAIN_SEPARATOR()"),
}
ERROR_STRING_SELECTOR = _selector("Error(string)")


class PayloadError(ValueError):
    """The `exact` EVM payload is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """A parsed `payload.authorization` (addresses checksummed, numbers as ints)."""

    from_address: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes

    def args(self) -> list[Any]:
        return [self.from_address, self.to, self.value, self.valid_after, self.valid_before, self.nonce]

    def words(self) -> bytes:
        return b"".join(
            (
                _address_word(self.from_address),
                _address_word(self.to),
                _word(self.value),
                _word(self.valid_after),
                _word(self.valid_before),
                self.nonce,
            )
        )


AUTHORIZATION_TYPES = ["address", "address", "uint256", "uint256", "uint256", "bytes32"]


def _field(source: dict[str, Any], name: str) -> Any:
    if name not in source:
        raise PayloadError(f"payload.authorization.{name} is missing")
    return source[name]


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise PayloadError(f"{where} is not a 20-byte hex address")
    return checksum_address(value)


def _uint(value: Any, where: str) -> int:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _UINT.fullmatch(text) or int(text) > UINT256_MAX:
        raise PayloadError(f"{where} is not a uint256 decimal string")
    return int(text)


def parse_payload(payload: dict[str, Any]) -> tuple[Authorization, bytes]:
    """The authorization and raw signature of an `exact` EVM (EIP-3009) payload."""
    authorization = payload.get("authorization")
    if not isinstance(authorization, dict):
        raise PayloadError("payload.authorization is missing (only EIP-3009 payloads are accepted)")
    signature = payload.get("signature")
    if not isinstance(signature, str) or not _HEX.fullmatch(signature) or len(signature) <= 2:
        raise PayloadError("payload.signature is not a hex string")
    nonce = _field(authorization, "nonce")
    if not isinstance(nonce, str) or not _BYTES32.fullmatch(nonce):
        raise PayloadError("payload.authorization.nonce is not 32 bytes of hex")
    parsed = Authorization(
        from_address=_address(_field(authorization, "from"), "payload.authorization.from"),
        to=_address(_field(authorization, "to"), "payload.authorization.to"),
        value=_uint(_field(authorization, "value"), "payload.authorization.value"),
        valid_after=_uint(_field(authorization, "validAfter"), "payload.authorization.validAfter"),
        valid_before=_uint(_field(authorization, "validBefore"), "payload.authorization.validBefore"),
        nonce=bytes.fromhex(nonce[2:]),
    )
    return parsed, bytes.fromhex(signature[2:])


def is_address(value: str) -> bool:
    return bool(_ADDRESS.fullmatch(value))


@lru_cache(maxsize=256)
def domain_separator(name: str, version: str, chain_id: int, token: str) -> bytes:
    return keccak(
        EIP712_DOMAIN_TYPEHASH
        + keccak(name.encode())
        + keccak(version.encode())
        + _word(chain_id)
        + _address_word(token)
    )


def authorization_digest(authorization: Authorization, separator: bytes) -> bytes:
    """The EIP-712 digest the payer signed (and the token recomputes)."""
    struct_hash = keccak(TRANSFER_WITH_AUTHORIZATION_TYPEHASH + authorization.words())
    return keccak(b"\x19\x01" + separator + struct_hash)


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The address that produced a 65-byte (r, s, v) signature over `digest`, or None if it is unusable.

    High-s signatures are refused like the token refuses them (they are malleated copies).
    """
    if len(signature) != 65:
        return None
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1) or int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        return None
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v]), digest, hasher=None
        )
    except ValueError:
        return None
    return checksum_address(keccak(public_key.format(compressed=False)[1:])[-20:])


def transfer_calldata(authorization: Authorization, signature: bytes) -> bytes:
    """`transferWithAuthorization` calldata: the (v, r, s) overload for 65-byte ECDSA signatures
    (every EIP-3009 token has it), the `bytes` overload for anything else (ERC-1271 wallets)."""
    if len(signature) == 65:
        v = signature[64] if signature[64] >= 27 else signature[64] + 27
        return (
            SELECTORS["transferWithAuthorization_vrs"]
            + authorization.words()
            + _word(v)
            + signature[:32]
            + signature[32:64]
        )
    return SELECTORS["transferWithAuthorization_bytes"] + encode(
        [*AUTHORIZATION_TYPES, "bytes"], [*authorization.args(), signature]
    )


def is_valid_signature_calldata(digest: bytes, signature: bytes) -> bytes:
    return SELECTORS["isValidSignature"] + encode(["bytes32", "bytes"], [digest, signature])


def authorization_state_calldata(authorizer: str, nonce: bytes) -> bytes:
    return SELECTORS["authorizationState"] + _address_word(authorizer) + nonce


def balance_of_calldata(owner: str) -> bytes:
    return SELECTORS["balanceOf"] + _address_word(owner)


def decode_string(result: bytes) -> str | None:
    """An ABI `string` return value, or None when the bytes are not one."""
    try:
        return decode(["string"], result)[0]
    except Exception:
        return None


def decode_revert(data: bytes) -> str:
    """The reason of a revert: `Error(string)` text, else the raw data in hex ('' for a bare revert)."""
    if data[:4] == ERROR_STRING_SELECTOR:
        reason = decode_string(data[4:])
        if reason is not None:
            return reason
    return "0x" + data.hex() if data else ""


def has_transfer_log(logs: list[dict[str, Any]], token: str, authorization: Authorization) -> bool:
    """Whether a receipt's logs hold the token's Transfer(from, to, value) of this authorization."""
    for log in logs:
        topics = log.get("topics") or []
        if (
            log.get("address", "").lower() == token.lower()
            and len(topics) == 3
            and topics[0].lower() == TRANSFER_TOPIC
            and topics[1][-40:].lower() == authorization.from_address[2:].lower()
            and topics[2][-40:].lower() == authorization.to[2:].lower()
            and int(log.get("data") or "0x0", 16) == authorization.value
        ):
            return True
    return False
