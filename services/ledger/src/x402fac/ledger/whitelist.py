"""Registered payment receivers (OpenX402's whitelist): an address and the networks it may be paid on.

Only operators register addresses (the CLI, or the admin API with the admin token): proving that a
stranger owns an address would take a signature per chain family, and the gateway holds no chain
code. EVM addresses are compared case-insensitively (EIP-55 checksums vary in case); others exactly.
"""

import time

import msgspec
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import bucket_keys, encode_key, read_entry
from x402fac.protocol.ledger import (
    WhitelistEntry,
    WhitelistListReply,
    WhitelistReply,
    WhitelistRequest,
)

ANY_NETWORK = "*"
MAX_ADDRESS = 128
_decode = msgspec.json.Decoder(WhitelistEntry).decode


def normalize(address: str) -> str:
    address = address.strip()
    return address.lower() if address.startswith(("0x", "0X")) else address


def _valid(address: str) -> bool:
    return 0 < len(address) <= MAX_ADDRESS and address.isprintable() and " " not in address


class Whitelist:
    def __init__(self, bucket: KeyValue) -> None:
        self.bucket = bucket

    async def _get(self, address: str) -> WhitelistEntry | None:
        entry = await read_entry(self.bucket, encode_key(address))
        return None if entry is None else _decode(entry.value)

    async def add(self, request: WhitelistRequest) -> WhitelistReply:
        """Register `address` on `networks` (added to those it has)."""
        address = normalize(request.address)
        networks = [n.strip() for n in request.networks if n.strip()] or [ANY_NETWORK]
        if not _valid(address) or any(len(n) > 100 for n in networks):
            return WhitelistReply(ok=False)
        known = await self._get(address)
        merged = sorted(set(networks) | set(known.networks if known else []))
        if ANY_NETWORK in merged:
            merged = [ANY_NETWORK]
        entry = WhitelistEntry(
            address=address,
            networks=merged,
            registered_at=known.registered_at if known else time.time(),
            note=request.note[:200] or (known.note if known else ""),
        )
        await self.bucket.put(encode_key(address), msgspec.json.encode(entry))
        return WhitelistReply(ok=True, entry=entry)

    async def remove(self, request: WhitelistRequest) -> WhitelistReply:
        address = normalize(request.address)
        if not _valid(address) or await self._get(address) is None:
            return WhitelistReply(ok=False)
        await self.bucket.delete(encode_key(address))
        return WhitelistReply(ok=True)

    async def get(self, request: WhitelistRequest) -> WhitelistReply:
        address = normalize(request.address)
        entry = await self._get(address) if _valid(address) else None
        return WhitelistReply(ok=entry is not None, entry=entry)

    async def list(self, _request: WhitelistRequest) -> WhitelistListReply:
        names = await bucket_keys(self.bucket)
        entries = []
        for name in names:
            try:
                entry = await self.bucket.get(name)
            except NotFoundError:
                continue
            if entry.value:
                entries.append(_decode(entry.value))
        return WhitelistListReply(entries=sorted(entries, key=lambda e: e.address))
