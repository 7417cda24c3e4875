"""Nano state blocks: the typed block, its JSON form (the node's `json_block` shape), hash, signature and work.

hash = blake2b-256(preamble || account || previous || representative || balance || link), where the preamble is
32 bytes ending in 0x06 (the state block type) and the balance is 16 bytes big-endian. The signature signs the
hash; `work` is not covered by it (anyone may replace work), and neither is `link_as_account`, which is only a
rendering of `link`: code that needs the recipient must read `link`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from . import ed25519
from .accounts import AddressError, decode_address, encode_address
from .units import MAX_RAW, AmountError, parse_raw
from .work import WorkError, format_work, parse_work, work_valid

STATE_PREAMBLE = bytes(31) + b"\x06"
ZERO_HASH = bytes(32)

_HEX64_RE = re.compile(r"[0-9A-Fa-f]{64}")
_HEX128_RE = re.compile(r"[0-9A-Fa-f]{128}")
_FIELDS = ("type", "account", "previous", "representative", "balance", "link", "signature", "work")


class BlockError(ValueError):
    """A JSON block is malformed; `field` names the offending field ("" for the block as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass(frozen=True, slots=True)
class StateBlock:
    """A state block with decoded fields: 32-byte keys/hashes, integer balance and work, 64-byte signature."""

    account: bytes
    previous: bytes
    representative: bytes
    balance: int
    link: bytes
    signature: bytes = bytes(64)
    work: int = 0

    def __post_init__(self) -> None:
        for name in ("account", "previous", "representative", "link"):
            if len(getattr(self, name)) != 32:
                raise BlockError(name, "must be 32 bytes")
        if len(self.signature) != 64:
            raise BlockError("signature", "must be 64 bytes")
        if not 0 <= self.balance <= MAX_RAW:
            raise BlockError("balance", "must fit in 128 bits")
        if not 0 <= self.work < 2**64:
            raise BlockError("work", "must fit in 64 bits")

    @property
    def hash(self) -> bytes:
        """The block hash (32 bytes); what the signature signs."""
        return block_hash(self)

    @property
    def root(self) -> bytes:
        """What the work is computed over: `previous`, or the account for an account's first block."""
        return self.account if self.previous == ZERO_HASH else self.previous

    @property
    def is_open(self) -> bool:
        return self.previous == ZERO_HASH

    def signed(self, secret_key: bytes) -> StateBlock:
        """A copy signed with `secret_key` (which must be the account's key)."""
        return dataclasses.replace(self, signature=ed25519.sign(secret_key, block_hash(self)))

    def with_work(self, work: int) -> StateBlock:
        return dataclasses.replace(self, work=work)

    def signature_valid(self) -> bool:
        """True if the signature is canonical and valid for the account over the block hash."""
        return ed25519.verify(self.account, block_hash(self), self.signature)

    def work_valid(self, threshold: int) -> bool:
        return work_valid(self.work, self.root, threshold)

    def to_json(self, prefix: str = "nano_") -> dict[str, str]:
        """The node's JSON shape (`json_block: true`): upper-case hex, decimal balance, 16-digit work."""
        return {
            "type": "state",
            "account": encode_address(self.account, prefix),
            "previous": self.previous.hex().upper(),
            "representative": encode_address(self.representative, prefix),
            "balance": str(self.balance),
            "link": self.link.hex().upper(),
            "link_as_account": encode_address(self.link, prefix),
            "signature": self.signature.hex().upper(),
            "work": format_work(self.work),
        }


def block_hash(block: StateBlock) -> bytes:
    """blake2b-256 over the preamble and the hashed fields."""
    return hashlib.blake2b(
        STATE_PREAMBLE
        + block.account
        + block.previous
        + block.representative
        + block.balance.to_bytes(16, "big")
        + block.link,
        digest_size=32,
    ).digest()


def parse_hash(text: Any, field: str = "hash") -> bytes:
    """32 bytes from 64 hex digits (either case)."""
    if not isinstance(text, str) or _HEX64_RE.fullmatch(text) is None:
        raise BlockError(field, f"must be 64 hex digits, got {_show(text)}")
    return bytes.fromhex(text)


def parse_block(data: Any) -> StateBlock:
    """A StateBlock from the JSON object a node or client sends; raises BlockError naming the field at fault.

    Accepts what the node accepts for state blocks, a little stricter on lengths: `link` as 64 hex digits or as
    an address, `work` as 1-16 hex digits. `link_as_account` and unknown keys (e.g. `subtype`) are ignored, as the
    node ignores them.
    """
    if not isinstance(data, dict):
        raise BlockError("", f"block must be a JSON object, got {type(data).__name__}")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise BlockError(missing[0], "is missing")
    if data["type"] != "state":
        raise BlockError("type", f'must be "state", got {_show(data["type"])}')
    account = _parse_account(data["account"], "account")
    previous = parse_hash(data["previous"], "previous")
    representative = _parse_account(data["representative"], "representative")
    try:
        balance = parse_raw(data["balance"], "balance")
    except AmountError as error:
        raise BlockError(
            "balance", f"must be a decimal integer string below 2^128, got {_show(data['balance'])}"
        ) from error
    link = _parse_link(data["link"])
    signature_text = data["signature"]
    if not isinstance(signature_text, str) or _HEX128_RE.fullmatch(signature_text) is None:
        raise BlockError("signature", f"must be 128 hex digits, got {_show(signature_text)}")
    try:
        work = parse_work(data["work"])
    except WorkError as error:
        raise BlockError("work", str(error)) from error
    return StateBlock(account, previous, representative, balance, link, bytes.fromhex(signature_text), work)


def _parse_account(text: Any, field: str) -> bytes:
    try:
        return decode_address(text)
    except AddressError as error:
        raise BlockError(field, str(error)) from error


def _parse_link(text: Any) -> bytes:
    if isinstance(text, str) and text.startswith(("nano_", "xrb_")):
        return _parse_account(text, "link")
    return parse_hash(text, "link")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
