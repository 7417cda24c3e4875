"""Pure encodings of the Solana devnet: base58, UI amounts, error texts."""

import os

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from x402fac.devnet.solana.codec import b58decode, b58encode, transaction_error_text, ui_token_amount


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\1", os.urandom(32), os.urandom(64), b"\xff" * 10])
def test_base58_round_trip(data):
    assert b58decode(b58encode(data)) == data


def test_base58_matches_solders():
    key = Keypair().pubkey()
    assert b58encode(bytes(key)) == str(key)
    assert b58decode(str(Pubkey.default())) == bytes(32)
    with pytest.raises(ValueError):
        b58decode("0OIl")


@pytest.mark.parametrize(
    ("amount", "decimals", "text"),
    [(0, 6, "0"), (1, 6, "0.000001"), (1_500_000, 6, "1.5"), (10**18, 6, "1000000000000"), (42, 0, "42")],
)
def test_ui_token_amount(amount, decimals, text):
    ui = ui_token_amount(amount, decimals)
    assert ui["uiAmountString"] == text
    assert ui["amount"] == str(amount)
    assert ui["decimals"] == decimals


def test_error_texts_follow_agave():
    assert transaction_error_text("BlockhashNotFound") == "Blockhash not found"
    assert (
        transaction_error_text({"InstructionError": [2, {"Custom": 1}]})
        == "Error processing Instruction 2: custom program error: 0x1"
    )
    assert (
        transaction_error_text({"InstructionError": [0, "MissingRequiredSignature"]})
        == "Error processing Instruction 0: missing required signature for instruction"
    )
