"""Nano proof of work: value = blake2b-64(work as 8 bytes little-endian || root), read little-endian.

A block's work is valid when its value is at least the network's threshold for that kind of block. The root is
the block's `previous`, or the account's public key for an account's first block. Thresholds are written as 16
hex digits, the way the node and x402 `extra.workThreshold` write them.

Generation here is a plain loop (~0.7 us per attempt in CPython): fine for the devnet's low thresholds (a few
ms), hopeless for mainnet's send threshold (~2^29 attempts); use a node's `work_generate` for those.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct

# Mainnet thresholds since epoch v2 (nano_node work_thresholds::publish_full).
MAINNET_SEND_THRESHOLD = 0xFFFFFFF800000000
MAINNET_RECEIVE_THRESHOLD = 0xFFFFFE0000000000

_MAX_WORK = 2**64 - 1
_HEX64_RE = re.compile(r"[0-9a-fA-F]{1,16}")
_pack_work = struct.Struct("<Q").pack


class WorkError(ValueError):
    """A work value or threshold is malformed."""


def parse_work(text: str) -> int:
    """A work value from its hex text (1 to 16 hex digits, as the node accepts)."""
    return _parse_hex64(text, "work")


def parse_threshold(text: str) -> int:
    """A threshold from its hex text (e.g. "fffffff800000000")."""
    return _parse_hex64(text, "threshold")


def format_work(value: int) -> str:
    """16 lower-case hex digits, the node's spelling of work and thresholds."""
    if not 0 <= value <= _MAX_WORK:
        raise WorkError(f"work must fit in 64 bits, got {value}")
    return f"{value:016x}"


def _parse_hex64(text: str, what: str) -> int:
    # int(text, 16) alone also reads "0x1f", " 1f", "1_f", "+1f" and non-ASCII digits.
    if not isinstance(text, str) or _HEX64_RE.fullmatch(text) is None:
        raise WorkError(f"{what} must be 1 to 16 hex digits, got {text!r}")
    return int(text, 16)


def work_value(work: int, root: bytes) -> int:
    """The difficulty value `work` achieves for `root` (higher is harder)."""
    digest = hashlib.blake2b(_pack_work(work) + root, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def work_valid(work: int, root: bytes, threshold: int) -> bool:
    """True if `work` meets `threshold` for `root`."""
    return work_value(work, root) >= threshold


def expected_attempts(threshold: int) -> int:
    """Average number of attempts generation needs for `threshold`."""
    return 2**64 // (2**64 - threshold)


def generate_work(root: bytes, threshold: int, max_attempts: int | None = None) -> int:
    """A work value meeting `threshold` for the 32-byte `root`, from a random start.

    Raises WorkError when `max_attempts` are spent without success.
    """
    if len(root) != 32:
        raise WorkError(f"root must be 32 bytes, got {len(root)}")
    if not 0 <= threshold <= _MAX_WORK:
        raise WorkError(f"threshold must fit in 64 bits, got {threshold}")
    blake2b = hashlib.blake2b
    from_bytes = int.from_bytes
    candidate = int.from_bytes(os.urandom(8), "little")
    limit = max_attempts if max_attempts is not None else 2**64
    for _ in range(limit):
        candidate = (candidate + 1) & _MAX_WORK
        if from_bytes(blake2b(_pack_work(candidate) + root, digest_size=8).digest(), "little") >= threshold:
            return candidate
    raise WorkError(f"no work found for threshold {threshold:016x} in {limit} attempts")
