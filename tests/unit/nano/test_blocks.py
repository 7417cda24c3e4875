"""State blocks: parse (precise errors), hash, JSON shape, signing, against every vector."""

import copy

import pytest

from x402fac.nano import BlockError, StateBlock, block_hash, encode_address, parse_block, public_key


def test_every_block_vector_hashes_and_verifies(nano_vectors):
    for vector in nano_vectors["valid_blocks"]:
        data = vector["block"]["data"]
        block = parse_block(data)
        assert block.hash.hex().upper() == vector["block"]["hash"]
        assert block_hash(block) == block.hash
        assert block.signature_valid()
        assert block.account == bytes.fromhex(vector["publicKey"])
        # originalLink is the link as the author wrote it (hex or address): both parse to the same bytes.
        assert parse_block({**data, "link": vector["originalLink"]}).link == block.link
        # JSON round trip in the vector's own prefix.
        rendered = block.to_json("xrb_")
        assert rendered == data
        assert parse_block(block.to_json()) == block


def test_genvec_block(nano_vectors):
    genvec = nano_vectors["genvec"]
    block = parse_block(genvec["block"])
    assert block.hash.hex().upper() == genvec["hash"]
    assert block.to_json() == genvec["block"]
    secret = bytes.fromhex(genvec["secret_key"])
    assert block.account == public_key(secret)
    assert int(genvec["prev_balance"]) - block.balance == int(genvec["amount"])
    # Rebuilding the block from its parts and signing gives the vector's signature.
    unsigned = StateBlock(block.account, block.previous, block.representative, block.balance, block.link)
    assert unsigned.signed(secret).with_work(block.work) == block


def test_signature_covers_every_hashed_field(nano_vectors):
    data = nano_vectors["genvec"]["block"]
    other = encode_address(bytes(31) + b"\x01")
    for field, value in (
        ("account", encode_address(bytes(31) + b"\x02")),
        ("previous", "00" * 32),
        ("representative", other),
        ("balance", str(int(data["balance"]) + 1)),
        ("link", "11" * 32),
    ):
        tampered = parse_block({**data, field: value})
        assert not tampered.signature_valid(), field
    # link_as_account is not part of the block: changing it changes nothing.
    block = parse_block({**data, "link_as_account": other})
    assert block.signature_valid()
    assert block.link == bytes.fromhex(data["link"])


GOOD_FIELDS = {
    "type": "state",
    "account": "nano_1sjkhzzeuhup4u9fbd9f77k9puwfbaadymfjnjgbtmiuchqqnmodbwrsnhn9",
    "previous": "DB180AF14F9A1B9055C64F0D8408EB86C53991180B9E375C5C29CA59D5207ED2",
    "representative": "nano_18gmu6engqhgtjnppqam181o5nfhj4sdtgyhy36dan3jr9spt84rzwmktafc",
    "balance": "990000000000000000000000000000",
    "link": "8F26EF538DE2D678FF8524CCF07C089E90844B204C821D74AEAE416F5C301604",
    "signature": "42BA65A0817587A6BD9AA18AB63EF002BC99E553E3139BFEE38C964BA811FE557236CA432C05BFE895587985F16B384269B2484C3231A300F0DDFC8023EA1106",
    "work": "f9d56d74750eb440",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "send"),
        ("account", "nano_1234"),
        ("account", 5),
        ("previous", "DB18"),
        ("previous", "ZZ" * 32),
        ("previous", "DB180AF14F9A1B9055C64F0D8408EB86C53991180B9E375C5C29CA59D5207ED2FF"),
        ("representative", "xrb_bad"),
        ("balance", "-1"),
        ("balance", "1.5"),
        ("balance", "0x10"),
        ("balance", str(2**128)),
        ("balance", 990),
        ("balance", "0990"),
        ("link", "8F26"),
        ("link", "nano_1sjkhzzeuhup4u9fbd9f77k9puwfbaadymfjnjgbtmiuchqqnmodbwrsnhn8"),
        ("signature", "42BA"),
        ("signature", "G" * 128),
        ("work", ""),
        ("work", "f9d56d74750eb44000"),
        ("work", "nothex"),
    ],
)
def test_malformed_fields_name_the_field(field, value):
    with pytest.raises(BlockError) as caught:
        parse_block({**GOOD_FIELDS, field: value})
    assert caught.value.field == field


@pytest.mark.parametrize("field", sorted(GOOD_FIELDS))
def test_missing_fields_name_the_field(field):
    data = copy.deepcopy(GOOD_FIELDS)
    del data[field]
    with pytest.raises(BlockError) as caught:
        parse_block(data)
    assert caught.value.field == field
    assert "missing" in str(caught.value)


def test_non_object_block():
    for bad in (None, "block", [GOOD_FIELDS]):
        with pytest.raises(BlockError) as caught:
            parse_block(bad)
        assert caught.value.field == ""


def test_unknown_keys_are_ignored_and_short_work_accepted():
    block = parse_block({**GOOD_FIELDS, "subtype": "send", "work": "1"})
    assert block.work == 1


def test_struct_checks_lengths():
    with pytest.raises(BlockError):
        StateBlock(bytes(31), bytes(32), bytes(32), 0, bytes(32))
    with pytest.raises(BlockError):
        StateBlock(bytes(32), bytes(32), bytes(32), 2**128, bytes(32))
    with pytest.raises(BlockError):
        StateBlock(bytes(32), bytes(32), bytes(32), 0, bytes(32), bytes(63))


def test_root_is_account_for_open_blocks():
    account = bytes(31) + b"\x07"
    block = StateBlock(account, bytes(32), account, 1, bytes(31) + b"\x09")
    assert block.is_open
    assert block.root == account
