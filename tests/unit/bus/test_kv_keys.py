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


def test_ascii_keys_escape_as_any_other_key():
    """ASCII keys take a shorter path: each character escapes as it does inside a non-ASCII key."""
    for code in range(128):
        char = chr(code)
        assert encode_key(char) == encode_key(char + "é")[: -len("=C3=A9")]
        assert decode_key(encode_key(f"a{char}b")) == f"a{char}b"
    assert encode_key("0xAb:eip155:84532 x.y") == "0xAb=3Aeip155=3A84532=20x=2Ey"
