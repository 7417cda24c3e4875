"""Our EIP-1559 signing produces exactly eth_account's bytes and hash."""

from __future__ import annotations

import os

import coincurve
import pytest
from eth_account import Account

from x402fac.worker_evm.transactions import DynamicFeeTransaction, address_of, rlp_encode


@pytest.mark.parametrize(
    ("item", "encoded"),
    [
        (b"", "80"),
        (0, "80"),
        (b"\x0f", "0f"),
        (1024, "820400"),
        (b"dog", "83646f67"),
        ([], "c0"),
        ([b"cat", b"dog"], "c88363617483646f67"),
        (b"a" * 56, "b838" + "61" * 56),
    ],
)
def test_rlp_reference_vectors(item, encoded) -> None:
    assert rlp_encode(item).hex() == encoded


@pytest.mark.parametrize("data_length", [0, 1, 100, 356, 1000])
def test_signed_transaction_matches_eth_account(data_length: int) -> None:
    account = Account.create()
    fields = {
        "chainId": 84532,
        "nonce": int.from_bytes(os.urandom(2), "big"),
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 3_000_000_007,
        "gas": 123_456,
        "to": Account.create().address,
        "value": 0 if data_length else 10**17,
        "data": os.urandom(data_length),
    }
    reference = account.sign_transaction({"type": 2, **fields})
    key = coincurve.PrivateKey(bytes(account.key))
    tx_hash, raw = DynamicFeeTransaction(
        chain_id=fields["chainId"],
        nonce=fields["nonce"],
        max_priority_fee_per_gas=fields["maxPriorityFeePerGas"],
        max_fee_per_gas=fields["maxFeePerGas"],
        gas=fields["gas"],
        to=fields["to"],
        value=fields["value"],
        data=fields["data"],
    ).sign(key)
    assert raw == bytes(reference.raw_transaction)
    assert tx_hash == "0x" + bytes(reference.hash).hex()
    assert address_of(key) == account.address
