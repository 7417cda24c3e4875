"""Ed25519 with blake2b-512 in place of SHA-512 (the signature scheme of Nano), on libsodium's group primitives.

libsodium's own `crypto_sign` hardwires SHA-512, so this builds the scheme from pynacl's low-level bindings:
scalar multiplication (base and variable point), point subtraction, scalar reduction and arithmetic mod L.

Verification is strict: S must be canonical (S < L), the public key must be a canonical point of the prime-order
subgroup (libsodium's variable-base multiplication refuses anything else), and R must equal the canonical
encoding of [S]B - [k]A. One verification costs one base and one variable-base multiplication (~0.14 ms).
"""

from __future__ import annotations

import hashlib

from nacl import bindings as _sodium
from nacl.exceptions import CryptoError

# Order of the prime subgroup.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
_ZERO_PAD = bytes(32)


def _hash_scalar(*parts: bytes) -> bytes:
    """blake2b-512 of the parts, reduced mod L (32 bytes little-endian)."""
    digest = hashlib.blake2b(b"".join(parts), digest_size=64).digest()
    return _sodium.crypto_core_ed25519_scalar_reduce(digest)


def _expand(secret_key: bytes) -> tuple[bytes, bytes]:
    """The signing scalar a (clamped, reduced mod L) and the nonce prefix of a 32-byte secret key."""
    if len(secret_key) != 32:
        raise ValueError(f"secret key must be 32 bytes, got {len(secret_key)}")
    digest = hashlib.blake2b(secret_key, digest_size=64).digest()
    clamped = bytearray(digest[:32])
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    scalar = _sodium.crypto_core_ed25519_scalar_reduce(bytes(clamped) + _ZERO_PAD)
    return scalar, digest[32:]


def public_key(secret_key: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret key."""
    scalar, _ = _expand(secret_key)
    return _sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)


def sign(secret_key: bytes, message: bytes) -> bytes:
    """The 64-byte signature R || S of `message` (deterministic, RFC 8032 shape with blake2b-512)."""
    scalar, prefix = _expand(secret_key)
    public = _sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)
    nonce = _hash_scalar(prefix, message)
    commitment = _sodium.crypto_scalarmult_ed25519_base_noclamp(nonce)
    challenge = _hash_scalar(commitment, public, message)
    response = _sodium.crypto_core_ed25519_scalar_add(
        nonce, _sodium.crypto_core_ed25519_scalar_mul(challenge, scalar)
    )
    return commitment + response


def is_canonical_signature(signature: bytes) -> bool:
    """True if the signature is 64 bytes and its S half is reduced (S < L)."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "little") < GROUP_ORDER


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if `signature` is a canonical, valid signature of `message` by `public_key`."""
    if len(public_key) != 32 or not is_canonical_signature(signature):
        return False
    commitment, response = signature[:32], signature[32:]
    challenge = _hash_scalar(commitment, public_key, message)
    try:
        # Raises for a non-canonical, small-order or out-of-subgroup key, and for a zero scalar.
        challenge_times_key = _sodium.crypto_scalarmult_ed25519_noclamp(challenge, public_key)
        response_times_base = _sodium.crypto_scalarmult_ed25519_base_noclamp(response)
        expected = _sodium.crypto_core_ed25519_sub(response_times_base, challenge_times_key)
    except (CryptoError, RuntimeError, ValueError):
        return False
    return expected == commitment
