"""Exact raw <-> XNO conversion."""

from decimal import Decimal

import pytest

from x402fac.nano import RAW_PER_XNO, AmountError, parse_raw, raw_to_xno, xno_to_raw


@pytest.mark.parametrize(
    ("xno", "raw"),
    [
        ("1", RAW_PER_XNO),
        ("0.001", 10**27),
        ("0.000000000000000000000000000001", 1),
        ("340282366.920938463463374607431768211455", 2**128 - 1),
        ("133248297.920938463463374607431768211455", 133248297920938463463374607431768211455),
        ("0", 0),
        ("1.50", 15 * 10**29),
        ("007", 7 * RAW_PER_XNO),
        (" 2 ", 2 * RAW_PER_XNO),
        (3, 3 * RAW_PER_XNO),
        (Decimal("0.01"), 10**28),
        (Decimal("1E-30"), 1),
    ],
)
def test_xno_to_raw(xno, raw):
    assert xno_to_raw(xno) == raw


@pytest.mark.parametrize(
    ("raw", "xno"),
    [
        (RAW_PER_XNO, "1"),
        (1, "0.000000000000000000000000000001"),
        (10**27, "0.001"),
        (15 * 10**29, "1.5"),
        (0, "0"),
        (2**128 - 1, "340282366.920938463463374607431768211455"),
    ],
)
def test_raw_to_xno(raw, xno):
    assert raw_to_xno(raw) == xno
    assert xno_to_raw(xno) == raw


@pytest.mark.parametrize(
    "bad",
    [
        "0.0000000000000000000000000000001",
        "-1",
        "1e3",
        "1.",
        ".5",
        "abc",
        "",
        0.1,
        True,
        Decimal("NaN"),
        "340282367",
    ],
)
def test_xno_to_raw_refuses(bad):
    with pytest.raises(AmountError):
        xno_to_raw(bad)


@pytest.mark.parametrize("bad", [-1, 1.0, "1", True])
def test_raw_to_xno_refuses(bad):
    with pytest.raises(AmountError):
        raw_to_xno(bad)


def test_parse_raw_is_canonical_decimal():
    assert parse_raw("0") == 0
    assert parse_raw(str(2**128 - 1)) == 2**128 - 1
    for bad in ("01", "+1", "-1", " 1", "1.0", "", str(2**128), 5):
        with pytest.raises(AmountError):
            parse_raw(bad)
