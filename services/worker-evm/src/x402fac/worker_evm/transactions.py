"""EIP-1559 (type 2) transactions: RLP encoding and signing with coincurve.

eth_account's signer takes ~2 ms per transaction (validation layers); this takes ~0.1 ms and is
checked against it in the unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve
from eth_hash.auto import keccak

from .eip3009 import checksum_address

RlpItem = bytes | int | list["RlpItem"]


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def rlp_encode(item: RlpItem) -> bytes:
    if isinstance(item, list):
        payload = b"".join(rlp_encode(element) for element in item)
        return _length_prefix(len(payload), 0xC0) + payload
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")  # 0 encodes as the empty string
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _length_prefix(len(item), 0x80) + item


@dataclass(frozen=True, slots=True)
class DynamicFeeTransaction:
    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    to: str
    value: int
    data: bytes

    def _fields(self) -> list[RlpItem]:
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas,
            bytes.fromhex(self.to[2:]),
            self.value,
            self.data,
            [],  # access list
        ]

    def sign(self, key: coincurve.PrivateKey) -> tuple[str, bytes]:
        """(transaction hash, raw signed bytes for eth_sendRawTransaction)."""
        signing_hash = keccak(b"\x02" + rlp_encode(self._fields()))
        signature = key.sign_recoverable(signing_hash, hasher=None)  # r || s || recovery id, low s
        r, s, y_parity = (
            int.from_bytes(signature[:32], "big"),
            int.from_bytes(signature[32:64], "big"),
            signature[64],
        )
        raw = b"\x02" + rlp_encode([*self._fields(), y_parity, r, s])
        return "0x" + keccak(raw).hex(), raw


def address_of(key: coincurve.PrivateKey) -> str:
    return checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:])
