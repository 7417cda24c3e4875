import re

import pytest

from x402fac.bus import decode_key, encode_key

VALID = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


@pytest.mark.parametrize(
    "raw",
    ["84532/0xAbC/0xdef/0x01", "127.0.0.1", "::1", "memo/payTo/héllo wörld", "a=b", "nano_1abc", "x" * 200],
)
def test_keys_are_valid_and_reversible(raw):
    key = encode_key(raw)
    assert VALID.match(key)
    assert not key.startswith(".") and ".." not in key
    assert decode_key(key) == raw


def test_empty_key_refused():
    with pytest.raises(ValueError):
        encode_key("")
