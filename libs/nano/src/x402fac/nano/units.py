"""Exact raw <-> XNO conversion (1 XNO = 10^30 raw) with integers and decimal strings, never floats."""

from __future__ import annotations

import re
from decimal import Decimal

RAW_PER_XNO = 10**30
XNO_DECIMALS = 30
MAX_RAW = 2**128 - 1  # a balance is a 128-bit unsigned integer

# [0-9], not \d: \d matches every Unicode digit, and int() reads them.
_DECIMAL_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_RAW_RE = re.compile(r"0|[1-9][0-9]*")


class AmountError(ValueError):
    """An amount is malformed, negative, finer than one raw, or beyond 128 bits."""


def raw_to_xno(raw: int) -> str:
    """The exact XNO amount of `raw` as a decimal string without trailing zeros ("1.5", "0.000001", "12")."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise AmountError(f"raw must be a non-negative integer, got {raw!r}")
    whole, fraction = divmod(raw, RAW_PER_XNO)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:030d}".rstrip("0")


def xno_to_raw(xno: str | int | Decimal) -> int:
    """The raw amount of an XNO amount given as a decimal string, an int, or a finite Decimal.

    Floats are refused: their binary value is rarely the decimal the caller meant.
    """
    if isinstance(xno, bool) or isinstance(xno, float):
        raise AmountError(f"XNO amounts must be decimal strings, ints or Decimals, not {type(xno).__name__}")
    if isinstance(xno, int):
        text = str(xno)
    elif isinstance(xno, Decimal):
        if not xno.is_finite():
            raise AmountError(f"XNO amount must be finite, got {xno}")
        text = format(xno, "f")
    elif isinstance(xno, str):
        text = xno.strip()
    else:
        raise AmountError(f"unsupported XNO amount type {type(xno).__name__}")
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        raise AmountError(f"XNO amount must be a non-negative decimal number, got {xno!r}")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > XNO_DECIMALS:
        raise AmountError(f"{xno} XNO has more than 30 decimal places; 1 raw is the smallest unit")
    raw = int(whole) * RAW_PER_XNO + int(fraction.ljust(XNO_DECIMALS, "0") or "0")
    if raw > MAX_RAW:
        raise AmountError(f"{xno} XNO exceeds 128 bits of raw")
    return raw


def parse_raw(text: str, what: str = "amount") -> int:
    """A raw amount from its canonical decimal text (no sign, no leading zeros, at most 128 bits)."""
    if not isinstance(text, str) or _RAW_RE.fullmatch(text) is None:
        raise AmountError(f"{what} must be a decimal integer string, got {text!r}")
    value = int(text)
    if value > MAX_RAW:
        raise AmountError(f"{what} exceeds 128 bits: {text}")
    return value
