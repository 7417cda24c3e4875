"""Addresses (nano_/xrb_, checksum) and seed-derived keys against the shared vectors."""

import pytest

from x402fac.nano import accounts, public_key


def test_every_key_vector_derives_secret_public_and_account(nano_vectors):
    for vector in nano_vectors["valid_keys"]:
        secret = accounts.derive_secret_key(bytes.fromhex(vector["seed"]), vector["index"])
        assert secret.hex().upper() == vector["secretKey"]
        public = public_key(secret)
        assert public.hex().upper() == vector["publicKey"]
        assert accounts.encode_address(public, "xrb_") == vector["account"]
        assert accounts.decode_address(vector["account"]) == public
        nano_form = accounts.normalize_address(vector["account"])
        assert nano_form == "nano_" + vector["account"][4:]
        assert accounts.decode_address(nano_form) == public


def test_block_vector_addresses_round_trip(nano_vectors):
    for vector in nano_vectors["valid_blocks"]:
        data = vector["block"]["data"]
        public = bytes.fromhex(vector["publicKey"])
        assert accounts.decode_address(data["account"]) == public
        assert accounts.encode_address(public, "xrb_") == data["account"]
        assert accounts.decode_address(data["link_as_account"]).hex().upper() == data["link"]


def test_genvec_addresses(nano_vectors):
    genvec = nano_vectors["genvec"]
    assert accounts.encode_address(bytes.fromhex(genvec["public_key"])) == genvec["block"]["account"]
    pay_to = public_key(bytes.fromhex(genvec["payto_secret_key"]))
    assert accounts.encode_address(pay_to) == genvec["block"]["link_as_account"]


GOOD = "nano_1sjkhzzeuhup4u9fbd9f77k9puwfbaadymfjnjgbtmiuchqqnmodbwrsnhn9"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (GOOD[:-1] + ("8" if GOOD[-1] != "8" else "9"), "checksum"),
        (GOOD[:10] + ("3" if GOOD[10] != "3" else "4") + GOOD[11:], "checksum"),
        ("ban_" + GOOD[5:], "start with"),
        ("nano-" + GOOD[5:], "start with"),
        (GOOD[:-1], "60 characters"),
        (GOOD + "1", "60 characters"),
        (GOOD.replace("k", "l", 1), "60 characters"),  # l is not in the alphabet
        ("nano_4" + GOOD[6:], "60 characters"),  # first character encodes 4 zero bits: only 1 or 3
        (GOOD.upper(), "start with"),
        ("", "start with"),
    ],
)
def test_bad_addresses_are_refused_with_reason(address, reason):
    for _ in range(2):  # a refusal is never remembered as an answer
        with pytest.raises(accounts.AddressError, match=reason):
            accounts.decode_address(address)
    assert not accounts.is_address(address)


def test_non_string_address_is_refused():
    with pytest.raises(accounts.AddressError):
        accounts.decode_address(b"nano_1")  # type: ignore[arg-type]
    assert not accounts.is_address(None)


def test_encode_rejects_wrong_key_length_prefix_and_type():
    with pytest.raises(accounts.AddressError):
        accounts.encode_address(bytes(31))
    with pytest.raises(accounts.AddressError):
        accounts.encode_address(bytes(32), "ban_")
    with pytest.raises(accounts.AddressError):
        accounts.encode_address("00" * 32)  # type: ignore[arg-type]


def test_remembered_addresses_answer_the_same_for_every_form_of_the_key():
    key = bytes(range(32))
    address = accounts.encode_address(key)
    assert accounts.encode_address(bytearray(key)) == accounts.encode_address(memoryview(key)) == address
    assert accounts.decode_address(address) == accounts.decode_address(address) == key
    assert accounts.decode_address("xrb_" + address[5:]) == key


def test_extreme_keys_round_trip():
    for key in (bytes(32), b"\xff" * 32, bytes(31) + b"\x01", b"\x80" + bytes(31)):
        assert accounts.decode_address(accounts.encode_address(key)) == key
        assert accounts.decode_address(accounts.encode_address(key, "xrb_")) == key
    # The zero key is the burn address.
    assert (
        accounts.encode_address(bytes(32))
        == "nano_1111111111111111111111111111111111111111111111111111hifc8npp"
    )


def test_derive_secret_key_checks_inputs():
    with pytest.raises(ValueError):
        accounts.derive_secret_key(bytes(31), 0)
    with pytest.raises(ValueError):
        accounts.derive_secret_key(bytes(32), 2**32)
