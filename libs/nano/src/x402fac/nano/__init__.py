"""Nano blocks, hashing, ed25519-blake2b, addresses, work."""
