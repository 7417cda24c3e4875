"""ed25519-blake2b: vectors, strictness (canonical S, valid points), tampering."""

import os

from x402fac.nano import ed25519, parse_block

L = ed25519.GROUP_ORDER


def test_every_block_vector_signature_verifies_and_re_signs(nano_vectors):
    for vector in nano_vectors["valid_blocks"]:
        block = parse_block(vector["block"]["data"])
        secret = bytes.fromhex(vector["secretKey"])
        assert ed25519.public_key(secret) == block.account
        assert ed25519.verify(block.account, block.hash, block.signature)
        # Signing is deterministic: re-signing gives the vector's exact bytes.
        assert ed25519.sign(secret, block.hash) == block.signature


def test_genvec_signature(nano_vectors):
    genvec = nano_vectors["genvec"]
    block = parse_block(genvec["block"])
    assert ed25519.verify(bytes.fromhex(genvec["public_key"]), bytes.fromhex(genvec["hash"]), block.signature)


def _signed():
    secret = os.urandom(32)
    message = os.urandom(32)
    return ed25519.public_key(secret), message, ed25519.sign(secret, message)


def test_sign_verify_round_trip_and_wrong_inputs():
    public, message, signature = _signed()
    assert ed25519.verify(public, message, signature)
    assert not ed25519.verify(public, message[:-1] + bytes([message[-1] ^ 1]), signature)
    other_public, _, _ = _signed()
    assert not ed25519.verify(other_public, message, signature)
    for index in (0, 31, 32, 63):
        tampered = bytearray(signature)
        tampered[index] ^= 0x01
        assert not ed25519.verify(public, message, bytes(tampered))


def test_non_canonical_s_is_refused():
    public, message, signature = _signed()
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + L).to_bytes(32, "little")
    # S + L is the same scalar mod L (a lax verifier accepts it), so only the canonical check refuses it.
    assert s + L < 2**256
    assert not ed25519.is_canonical_signature(malleated)
    assert not ed25519.verify(public, message, malleated)


def test_invalid_points_are_refused():
    _, message, signature = _signed()
    identity = (1).to_bytes(32, "little")  # small order
    not_on_curve = (2).to_bytes(32, "little")
    non_canonical_y = (2**255 - 19 + 1).to_bytes(32, "little")  # y >= p
    for bad_key in (identity, not_on_curve, non_canonical_y, bytes(32), b"\xff" * 32):
        assert not ed25519.verify(bad_key, message, signature)


def test_wrong_lengths_are_refused():
    public, message, signature = _signed()
    assert not ed25519.verify(public[:31], message, signature)
    assert not ed25519.verify(public, message, signature[:63])
    assert not ed25519.verify(public, message, signature + b"\x00")


def test_zero_s_is_refused_without_raising():
    public, message, signature = _signed()
    assert not ed25519.verify(public, message, signature[:32] + bytes(32))
