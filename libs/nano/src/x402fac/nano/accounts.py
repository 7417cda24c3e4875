"""Nano account addresses and deterministic keys.

An address is `nano_` (or legacy `xrb_`) + 52 base32 characters for the 256-bit public key (padded with 4 zero
bits in front) + 8 characters of checksum: blake2b-40 of the key, byte-reversed. Nano's base32 alphabet drops
0, 2, l and v. Encoding goes through the standard library's RFC 4648 base32 with a translation table, and
both directions are cached (the same payers and payTo addresses come back on every request: uncached, they
were a quarter of the Nano worker's CPU per verify).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

NANO_ALPHABET = "13456789abcdefghijkmnopqrstuwxyz"
_RFC_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_NANO = str.maketrans(_RFC_ALPHABET, NANO_ALPHABET)
_TO_RFC = str.maketrans(NANO_ALPHABET, _RFC_ALPHABET)
_ADDRESS_RE = re.compile(
    r"(nano|xrb)_([13][13456789abcdefghijkmnopqrstuwxyz]{51})([13456789abcdefghijkmnopqrstuwxyz]{8})"
)

PREFIXES = ("nano_", "xrb_")


class AddressError(ValueError):
    """The text is not a Nano address (the message says why)."""


def _checksum_chars(public_key: bytes) -> str:
    digest = hashlib.blake2b(public_key, digest_size=5).digest()[::-1]
    return base64.b32encode(digest).decode().translate(_TO_NANO)


# Addresses remembered each way: bounded, so a stream of new addresses only evicts.
CACHED_ADDRESSES = 65_536


def encode_address(public_key: bytes, prefix: str = "nano_") -> str:
    """The address of a 32-byte public key (`nano_` by default, `xrb_` on request)."""
    if not isinstance(public_key, bytes | bytearray | memoryview):
        raise AddressError(f"public key must be bytes, got {type(public_key).__name__}")
    return _encode(bytes(public_key), prefix)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _encode(public_key: bytes, prefix: str) -> str:
    if len(public_key) != 32:
        raise AddressError(f"public key must be 32 bytes, got {len(public_key)}")
    if prefix not in PREFIXES:
        raise AddressError(f"unknown address prefix {prefix!r}")
    # 4 padding bits in front and 20 behind make 280 bits = 35 bytes = 56 base32 characters; the last 4 are padding.
    padded = (int.from_bytes(public_key, "big") << 20).to_bytes(35, "big")
    body = base64.b32encode(padded).decode()[:52].translate(_TO_NANO)
    return prefix + body + _checksum_chars(public_key)


def decode_address(address: str) -> bytes:
    """The 32-byte public key in a `nano_`/`xrb_` address; raises AddressError on any defect, checksum included."""
    if not isinstance(address, str):
        raise AddressError(f"address must be a string, got {type(address).__name__}")
    return _decode(address)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _decode(address: str) -> bytes:
    match = _ADDRESS_RE.fullmatch(address)
    if match is None:
        if not address.startswith(PREFIXES):
            raise AddressError(f"address must start with nano_ or xrb_: {address!r}")
        raise AddressError(f"address must be the prefix and 60 characters of the Nano alphabet: {address!r}")
    key_chars, checksum = match.group(2), match.group(3)
    padded = base64.b32decode(key_chars.translate(_TO_RFC) + "AAAA")
    public_key = (int.from_bytes(padded, "big") >> 20).to_bytes(32, "big")
    if _checksum_chars(public_key) != checksum:
        raise AddressError(f"address checksum does not match: {address!r}")
    return public_key


def is_address(address: object) -> bool:
    """True if `address` is a well-formed Nano address with a valid checksum."""
    try:
        decode_address(address)  # type: ignore[arg-type]
    except AddressError:
        return False
    return True


def normalize_address(address: str) -> str:
    """The `nano_` form of a valid address (legacy `xrb_` addresses are rewritten)."""
    return encode_address(decode_address(address))


def derive_secret_key(seed: bytes, index: int) -> bytes:
    """The secret key at `index` of a 32-byte wallet seed: blake2b-256(seed || index as 4 bytes big-endian)."""
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
    if not 0 <= index < 2**32:
        raise ValueError(f"index must fit in 32 bits, got {index}")
    return hashlib.blake2b(seed + index.to_bytes(4, "big"), digest_size=32).digest()
