"""The worker's keccak-256 against eth-hash's, around the sponge's 136-byte block."""

import os

from eth_hash.auto import keccak as reference

from x402fac.worker_evm.keccak import keccak


def test_keccak_matches_eth_hash_at_every_length_around_a_block():
    for length in [*range(0, 140), 271, 272, 273, 1000]:
        data = os.urandom(length)
        assert keccak(data) == reference(data)


def test_keccak_of_nothing_is_the_known_empty_hash():
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
