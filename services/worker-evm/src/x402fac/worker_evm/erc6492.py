"""ERC-6492 without a chain: the wrapper of a counterfactual wallet's signature, and the Multicall3
`aggregate3` calls that deploy such a wallet and settle its payment in one transaction.

A wallet not deployed yet signs `abi.encode(factory, factoryCalldata, innerSignature) ++ magic`: calling
`factory` with `factoryCalldata` deploys the wallet at the payer's address, after which it validates
`innerSignature` through ERC-1271. Multicall3 sits at the same address on nearly every EVM chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode

from .eip3009 import PayloadError, checksum_address

SUFFIX = bytes.fromhex("64926492" * 8)
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
AGGREGATE3_SELECTOR = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
_CALL3 = "(address,bool,bytes)[]"
_RESULT = "(bool,bytes)[]"


class WrapperError(PayloadError):
    """A signature carries the ERC-6492 suffix but not a well-formed wrapper."""


@dataclass(frozen=True, slots=True)
class Wrapped:
    """An ERC-6492 signature taken apart: who deploys the wallet, how, and what the wallet validates."""

    factory: str
    factory_calldata: bytes
    inner: bytes


def is_wrapped(signature: bytes) -> bool:
    return len(signature) > len(SUFFIX) and signature.endswith(SUFFIX)


def unwrap(signature: bytes) -> Wrapped | None:
    """The wrapper's parts, or None for a signature that is not wrapped."""
    if not is_wrapped(signature):
        return None
    body = signature[: -len(SUFFIX)]
    try:
        factory, factory_calldata, inner = decode(["address", "bytes", "bytes"], body, strict=True)
    except Exception:
        raise WrapperError(
            "the ERC-6492 signature is not abi.encode(address factory, bytes factoryCalldata, bytes signature)"
        ) from None
    if len(encode(["address", "bytes", "bytes"], [factory, factory_calldata, inner])) != len(body):
        raise WrapperError("the ERC-6492 signature carries bytes beyond its encoded wrapper")
    if int(factory, 16) == 0 or not factory_calldata:
        raise WrapperError("the ERC-6492 wrapper names no factory or no factory calldata")
    if not inner:
        raise WrapperError("the ERC-6492 wrapper holds an empty inner signature")
    return Wrapped(checksum_address(factory), factory_calldata, inner)


def aggregate3_calldata(calls: list[tuple[str, bool, bytes]]) -> bytes:
    """Multicall3 `aggregate3` of (target, allowFailure, calldata) calls, in order."""
    return AGGREGATE3_SELECTOR + encode([_CALL3], [calls])


def decode_aggregate3(result: bytes) -> list[tuple[bool, bytes]]:
    """(success, returnData) per call of an `aggregate3` answer; ValueError when it is not one."""
    try:
        (results,) = decode([_RESULT], result)
    except Exception:
        raise ValueError("not an aggregate3 answer") from None
    return [(bool(success), bytes(data)) for success, data in results]
