"""Nano blocks, hashing, ed25519-blake2b, addresses, work.

Pure functions on bytes and ints (pynacl for the curve, hashlib for blake2b); no I/O except in `node` (the
nano_node RPC client) and `x402_client`.
"""

from .accounts import (
    AddressError,
    decode_address,
    derive_secret_key,
    encode_address,
    is_address,
    normalize_address,
)
from .blocks import BlockError, StateBlock, block_hash, parse_block, parse_hash
from .ed25519 import public_key, sign, verify
from .units import RAW_PER_XNO, AmountError, parse_raw, raw_to_xno, xno_to_raw
from .work import (
    MAINNET_RECEIVE_THRESHOLD,
    MAINNET_SEND_THRESHOLD,
    WorkError,
    format_work,
    generate_work,
    parse_threshold,
    parse_work,
    work_valid,
    work_value,
)

__all__ = [
    "MAINNET_RECEIVE_THRESHOLD",
    "MAINNET_SEND_THRESHOLD",
    "RAW_PER_XNO",
    "AddressError",
    "AmountError",
    "BlockError",
    "StateBlock",
    "WorkError",
    "block_hash",
    "decode_address",
    "derive_secret_key",
    "encode_address",
    "format_work",
    "generate_work",
    "is_address",
    "normalize_address",
    "parse_block",
    "parse_hash",
    "parse_raw",
    "parse_threshold",
    "parse_work",
    "public_key",
    "raw_to_xno",
    "sign",
    "verify",
    "work_valid",
    "work_value",
    "xno_to_raw",
]
